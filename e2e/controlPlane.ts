/**
 * A Kubernetes control plane on 127.0.0.1 for the end-to-end run: etcd, kube-apiserver (RBAC and
 * the default admission plugins, PodSecurity among them), kube-controller-manager, kube-scheduler,
 * and kwok simulating one node whose pods become Ready and whose claims are bound through a
 * default StorageClass. Nothing listens beyond loopback; all data lives in a temporary directory.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { KubeApi, readKubeconfig, writeKubeconfig } from "./kubeApi";
import { freePort, Processes, run, until } from "./processes";

export const NODE_NAME = "kwok-node-0";
/** The StorageClass of kwok's volume stages, made the cluster's default. */
export const STORAGE_CLASS = "kwok-volume";

export interface ControlPlane {
    readonly kubeconfig: string;
    readonly api: KubeApi;
    /** The CA that signed the API server's certificate, for clients other than the admin. */
    readonly caFile: string;
    readonly ports: number[];
}

export interface ToolPaths {
    readonly binDir: string;
    /** Stage files of the pinned kwok release (node, pod and volume). */
    readonly kwokStages: readonly string[];
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
    await run("openssl", args, { cwd: dir });
}

/** A CA, the API server's serving certificate for 127.0.0.1, an admin client certificate and the service-account key pair. */
async function makePki(dir: string): Promise<void> {
    fs.writeFileSync(path.join(dir, "serving.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n");
    fs.writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    await openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=workshop-e2e-ca");
    for (const [name, subject, ext] of [["apiserver", "/CN=kube-apiserver", "serving.ext"], ["admin", "/O=system:masters/CN=e2e-admin", "client.ext"]]) {
        await openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
        await openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", `${name}.crt`, "-days", "2", "-extfile", ext);
    }
    await openssl(dir, "genrsa", "-out", "sa.key", "2048");
    await openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

export async function startControlPlane(tools: ToolPaths, dir: string, processes: Processes): Promise<ControlPlane> {
    const pki = path.join(dir, "pki");
    fs.mkdirSync(pki, { recursive: true });
    await makePki(pki);
    const bin = (name: string) => path.join(tools.binDir, name);
    const [etcdClient, etcdPeer, apiPort, managerPort, schedulerPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];

    const etcd = processes.start("etcd", bin("etcd"), [
        "--name=e2e", `--data-dir=${path.join(dir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
        // Throwaway data: durability buys nothing here and fsync dominates on small disks.
        "--unsafe-no-fsync",
    ]);

    const apiserver = processes.start("kube-apiserver", bin("kube-apiserver"), [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
        // The "kubernetes" Service would point at a loopback address; nothing here needs it.
        "--endpoint-reconciler-type=none",
        `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`, `--client-ca-file=${pki}/ca.crt`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
        "--service-cluster-ip-range=10.96.0.0/16",
        "--authorization-mode=RBAC",
        "--allow-privileged=false",
        "--profiling=false",
    ]);

    const kubeconfig = path.join(dir, "admin.kubeconfig");
    writeKubeconfig(kubeconfig, {
        server: `https://127.0.0.1:${apiPort}`,
        ca: fs.readFileSync(`${pki}/ca.crt`),
        cert: fs.readFileSync(`${pki}/admin.crt`),
        key: fs.readFileSync(`${pki}/admin.key`),
    });
    const api = new KubeApi(readKubeconfig(kubeconfig));
    await until("the API server to be ready", 60_000, async () => {
        for (const service of [etcd, apiserver]) {
            if (service.child.exitCode !== null) {
                throw new Error(`${service.name} exited:\n${processes.tail(service)}`);
            }
        }
        return (await api.get("/readyz")) === "ok" ? true : undefined;
    });

    processes.start("kube-controller-manager", bin("kube-controller-manager"), [
        `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1", `--secure-port=${managerPort}`, "--leader-elect=false",
        `--service-account-private-key-file=${pki}/sa.key`, `--root-ca-file=${pki}/ca.crt`,
        "--use-service-account-credentials=false", "--profiling=false",
    ]);
    processes.start("kube-scheduler", bin("kube-scheduler"), [
        `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1", `--secure-port=${schedulerPort}`, "--leader-elect=false", "--profiling=false",
    ]);

    // kwok's own stages of the pinned release, read from the module: Ready pods, bound claims.
    const stageConfig = path.join(dir, "kwok-stages.yaml");
    fs.writeFileSync(stageConfig, tools.kwokStages.map((file) => fs.readFileSync(file, "utf8")).join("\n---\n"));
    processes.start("kwok", bin("kwok"), [
        `--kubeconfig=${kubeconfig}`, `--config=${stageConfig}`,
        "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-lease-duration-seconds=40",
    ]);

    await api.create("/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
            name: NODE_NAME,
            annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            labels: { "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok" },
        },
    });
    await api.create("/apis/storage.k8s.io/v1/storageclasses", {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: STORAGE_CLASS, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
        provisioner: "kwok.x-k8s.io/volume",
        reclaimPolicy: "Delete",
        volumeBindingMode: "Immediate",
    });
    await until("the kwok node to be Ready", 60_000, async () => {
        const node = await api.get(`/api/v1/nodes/${NODE_NAME}`);
        return node.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ? true : undefined;
    });
    // Namespaces get their "default" ServiceAccount from the controller manager: wait until it works.
    await until("the controller manager to create ServiceAccounts", 60_000, async () =>
        (await api.find("/api/v1/namespaces/default/serviceaccounts/default")) ? true : undefined);

    return { kubeconfig, api, caFile: `${pki}/ca.crt`, ports: [etcdClient, etcdPeer, apiPort, managerPort, schedulerPort] };
}

/** kwok's stage files for nodes, pods and volumes, from the module of the pinned release. */
export function kwokStageFiles(moduleDir: string): string[] {
    const stage = path.join(moduleDir, "kustomize", "stage");
    const fromKustomization = (dir: string) => {
        const kustomization = yaml.load(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as { resources: string[] };
        return kustomization.resources.filter((file) => file.endsWith(".yaml")).map((file) => path.join(dir, file));
    };
    return [
        ...fromKustomization(path.join(stage, "node", "fast")),
        ...fromKustomization(path.join(stage, "node", "heartbeat")),
        ...fromKustomization(path.join(stage, "pod", "fast")),
        // The StorageClass is created through the API, not read as a stage.
        ...fromKustomization(path.join(stage, "volume", "fast")).filter((file) => !file.endsWith("storage-class.yaml")),
    ];
}

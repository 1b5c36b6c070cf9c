/**
 * A Kubernetes control plane on 127.0.0.1 for the end-to-end run: etcd, kube-apiserver (RBAC and
 * the default admission plugins, PodSecurity among them), kube-controller-manager, kube-scheduler,
 * and kwok simulating one node whose pods become Ready and whose claims are bound through a
 * default StorageClass. Nothing listens beyond loopback; all data lives in a temporary directory.
 *
 * For a real node (e2e/node/), `options.realNode` replaces kwok: the API server listens on the
 * node's bridge address instead (the only address both the host and the pods reach), with a
 * certificate naming it and the `kubernetes` Service's address, publishes that address as the
 * `kubernetes` Service's endpoint, authorizes kubelets with the Node authorizer, and reaches them
 * with a client certificate of its own. Certificates for the kubelet and kube-proxy are made too.
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
    /** The PKI directory (ca.crt/ca.key and, for a real node, kubelet.* and kube-proxy.*). */
    readonly pki: string;
    /** The API server's URL. */
    readonly server: string;
}

export interface ToolPaths {
    readonly binDir: string;
    /** Stage files of the pinned kwok release (node, pod and volume); unused with a real node. */
    readonly kwokStages: readonly string[];
}

/** What a real node needs of the control plane. */
export interface RealNodeOptions {
    /** The node's name (its kubelet's client certificate is for system:node:<name>). */
    readonly nodeName: string;
    /** The bridge address the API server listens on and advertises. */
    readonly address: string;
    /** The Service range, and the `kubernetes` Service's address in it (its first). */
    readonly serviceCidr: string;
    readonly kubernetesServiceIp: string;
    /** Seconds without a node status before the node goes NotReady (the controller manager's grace period). */
    readonly nodeMonitorGraceSeconds?: number;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
    await run("openssl", args, { cwd: dir });
}

/**
 * A CA, the API server's serving certificate for 127.0.0.1 (and `extraIps`), an admin client
 * certificate, `extraClients` ([file name, subject]) and the service-account key pair.
 */
async function makePki(dir: string, extraIps: readonly string[] = ["10.96.0.1"], extraClients: readonly [string, string][] = []): Promise<void> {
    const ips = ["127.0.0.1", ...extraIps].map((ip) => `IP:${ip}`).join(",");
    fs.writeFileSync(path.join(dir, "serving.ext"),
        `subjectAltName=${ips},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n`);
    fs.writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    await openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=workshop-e2e-ca");
    for (const [name, subject, ext] of [["apiserver", "/CN=kube-apiserver", "serving.ext"], ["admin", "/O=system:masters/CN=e2e-admin", "client.ext"],
        ...extraClients.map(([file, subj]) => [file, subj, "client.ext"])]) {
        await openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
        await openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", `${name}.crt`, "-days", "2", "-extfile", ext);
    }
    await openssl(dir, "genrsa", "-out", "sa.key", "2048");
    await openssl(dir, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub");
}

export async function startControlPlane(tools: ToolPaths, dir: string, processes: Processes,
    options: { realNode?: RealNodeOptions } = {}): Promise<ControlPlane> {
    const node = options.realNode;
    const pki = path.join(dir, "pki");
    fs.mkdirSync(pki, { recursive: true });
    await makePki(pki, node ? [node.address, node.kubernetesServiceIp] : undefined, node ? [
        ["kubelet", `/O=system:nodes/CN=system:node:${node.nodeName}`],
        ["kube-proxy", "/CN=system:kube-proxy"],
        ["apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"],
    ] : []);
    const host = node?.address ?? "127.0.0.1";
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
        `--bind-address=${host}`, `--advertise-address=${host}`, `--secure-port=${apiPort}`,
        ...(node ? [
            // Pods reach the API server through the "kubernetes" Service, whose endpoint is this address.
            `--service-cluster-ip-range=${node.serviceCidr}`,
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`, `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
            "--kubelet-preferred-address-types=InternalIP",
        ] : [
            // The "kubernetes" Service would point at a loopback address; nothing here needs it.
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
        ]),
        `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`, `--client-ca-file=${pki}/ca.crt`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
        "--allow-privileged=false",
        "--profiling=false",
    ]);

    const kubeconfig = path.join(dir, "admin.kubeconfig");
    const server = `https://${host}:${apiPort}`;
    writeKubeconfig(kubeconfig, {
        server,
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
        ...(node?.nodeMonitorGraceSeconds ? [`--node-monitor-grace-period=${node.nodeMonitorGraceSeconds}s`] : []),
    ]);
    processes.start("kube-scheduler", bin("kube-scheduler"), [
        `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1", `--secure-port=${schedulerPort}`, "--leader-elect=false", "--profiling=false",
    ]);

    const ports = [etcdClient, etcdPeer, apiPort, managerPort, schedulerPort];
    if (node) {
        // The node registers itself; storage is the node's (local PersistentVolumes).
        await until("the controller manager to create ServiceAccounts", 60_000, async () =>
            (await api.find("/api/v1/namespaces/default/serviceaccounts/default")) ? true : undefined);
        return { kubeconfig, api, caFile: `${pki}/ca.crt`, ports, pki, server };
    }

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

    return { kubeconfig, api, caFile: `${pki}/ca.crt`, ports, pki, server };
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

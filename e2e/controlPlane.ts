/**
 * The Kubernetes control plane of the end-to-end run's node (e2e/node/): etcd, kube-apiserver (RBAC,
 * the Node authorizer and the default admission plugins, PodSecurity among them),
 * kube-controller-manager and kube-scheduler. etcd and the controllers listen on loopback; the API
 * server listens on the node's bridge address (the only address both the host and the pods reach),
 * with a certificate naming it, 127.0.0.1 and the `kubernetes` Service's address, publishes it as the
 * `kubernetes` Service's endpoint, and reaches kubelets with a client certificate of its own.
 * Certificates for the kubelet and kube-proxy are made too. All data lives in a temporary directory.
 */
import * as fs from "fs";
import * as path from "path";
import { KubeApi, readKubeconfig, writeKubeconfig } from "./kubeApi";
import { freePort, Processes, run, until } from "./processes";

export interface ControlPlane {
    readonly kubeconfig: string;
    readonly api: KubeApi;
    /** The CA that signed the API server's certificate, for clients other than the admin. */
    readonly caFile: string;
    readonly ports: number[];
    /** The PKI directory (ca.crt/ca.key, kubelet.* and kube-proxy.*). */
    readonly pki: string;
    /** The API server's URL. */
    readonly server: string;
}

/** What the node needs of the control plane. */
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
async function makePki(dir: string, extraIps: readonly string[], extraClients: readonly [string, string][]): Promise<void> {
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

export async function startControlPlane(binDir: string, dir: string, processes: Processes, node: RealNodeOptions): Promise<ControlPlane> {
    const pki = path.join(dir, "pki");
    fs.mkdirSync(pki, { recursive: true });
    await makePki(pki, [node.address, node.kubernetesServiceIp], [
        ["kubelet", `/O=system:nodes/CN=system:node:${node.nodeName}`],
        ["kube-proxy", "/CN=system:kube-proxy"],
        ["apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"],
    ]);
    const host = node.address;
    const bin = (name: string) => path.join(binDir, name);
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
        // Pods reach the API server through the "kubernetes" Service, whose endpoint is this address.
        `--service-cluster-ip-range=${node.serviceCidr}`,
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`, `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
        "--kubelet-preferred-address-types=InternalIP",
        `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`, `--client-ca-file=${pki}/ca.crt`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
        "--allow-privileged=false",
        "--profiling=false",
        // Watches end after 30–60 s instead of 30–60 min, so that a client that lost its rights (the
        // watcher whose Role is removed, step n5) meets the refusal within a minute, not at a random hour.
        "--min-request-timeout=30",
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
        ...(node.nodeMonitorGraceSeconds ? [`--node-monitor-grace-period=${node.nodeMonitorGraceSeconds}s`] : []),
    ]);
    processes.start("kube-scheduler", bin("kube-scheduler"), [
        `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1", `--secure-port=${schedulerPort}`, "--leader-elect=false", "--profiling=false",
    ]);

    const ports = [etcdClient, etcdPeer, apiPort, managerPort, schedulerPort];
    // The node registers itself; storage is the node's (local PersistentVolumes). Namespaces get
    // their "default" ServiceAccount from the controller manager: wait until it works.
    await until("the controller manager to create ServiceAccounts", 60_000, async () =>
        (await api.find("/api/v1/namespaces/default/serviceaccounts/default")) ? true : undefined);
    return { kubeconfig, api, caFile: `${pki}/ca.crt`, ports, pki, server };
}

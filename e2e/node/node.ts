/**
 * A real Kubernetes node on this machine, joined to the control plane of ../controlPlane.ts:
 * containerd (runc, its shim) with the CRI, the CNI bridge, the kubelet and kube-proxy of the
 * control plane's release, all from e2e/tools. Local PersistentVolumes under a default StorageClass
 * with no provisioner (WaitForFirstConsumer) serve the claims.
 *
 * Network: a bridge of the run's own with an address range that collides with nothing here
 * (198.18.0.0/15 is reserved for benchmarking, RFC 2544); pods get addresses on it and a route for
 * the Service range via the bridge address, nothing else: no default route, no masquerade. Only the
 * bridge forwards (bridge to bridge, for pod -> ClusterIP -> pod); ip_forward stays as it is (off
 * here). The API server listens on the bridge address, so the host and the pods reach it alike;
 * CoreDNS there answers the pods' cluster names.
 *
 * What this machine needs (see shared/notes/real-node.md): cgroup v1 (`failCgroupV1: false`, the
 * cgroupfs driver), root without CAP_SYS_RESOURCE (containerd's `restrict_oom_score_adj`), and a
 * node IP that is not loopback (the bridge address).
 *
 * stopNode() removes everything the node made, whatever state it is in; ./host.ts compares the
 * host with its state before the node and names what is left.
 */
import { execFile } from "child_process";
import { randomBytes } from "crypto";
import { promises as dns } from "dns";
import * as fs from "fs";
import * as path from "path";
import type { ControlPlane } from "../controlPlane";
import { writeKubeconfig } from "../kubeApi";
import { freePort, Processes, processesMentioning, run, Service, until } from "../processes";
import { HostState, hostState, leftovers } from "./host";

export const NETWORK = {
    bridge: "wse2e0",
    address: "198.18.0.1",
    prefixLength: 24,
    podSubnet: "198.18.0.0/24",
    podRangeStart: "198.18.0.10",
    podRangeEnd: "198.18.0.250",
    serviceCidr: "198.19.0.0/24",
    kubernetesServiceIp: "198.19.0.1",
    /** nftables table of the run's own that keeps forwarding on the bridge (see prepareNode). */
    forwardTable: "workshop-e2e-forward",
    /** The pods' DNS: CoreDNS on the host, on the bridge address (see startClusterDns). */
    clusterDomain: "cluster.local",
} as const;

export const NODE_NAME = "workshop-e2e-node";
export const STORAGE_CLASS = "workshop-e2e-local";
/** How many local PersistentVolumes the node offers (each stack takes two claims). */
export const LOCAL_VOLUMES = 12;

export interface NodeTools {
    readonly binDir: string;
    /** images.list of e2e/node/images.sh: "archive reference" per line. */
    readonly imagesList: string;
}

/** What a (possibly half-made) node made so far: what stopNode undoes. */
export interface NodeState {
    readonly dir: string;
    readonly binDir: string;
    readonly before: HostState;
    cgroupRoot?: string;
    bridge?: boolean;
    containerd?: Service;
    containerdSocket?: string;
    kubelet?: Service;
    kubeletArgs?: string[];
    kubeProxy?: Service;
    coredns?: Service;
    /** The kubelet's API port (exec, logs, port-forward streams come through it). */
    kubeletPort?: number;
    /** Seconds each part took to come up. */
    readonly timings: Record<string, number>;
}

/** The Debian packages the node needs at run time, by a command each provides. */
const RUNTIME_COMMANDS: Record<string, string> = { ip: "iproute2", nft: "nftables", "iptables-save": "iptables", mount: "mount", tcpdump: "tcpdump" };

export async function missingRuntimePackages(): Promise<string[]> {
    const missing: string[] = [];
    for (const [command, pkg] of Object.entries(RUNTIME_COMMANDS)) {
        try {
            await run("bash", ["-c", `command -v ${command}`]);
        } catch {
            missing.push(pkg);
        }
    }
    if (!["/usr/lib/x86_64-linux-gnu/libseccomp.so.2", "/lib/x86_64-linux-gnu/libseccomp.so.2"].some((file) => fs.existsSync(file))) {
        missing.push("libseccomp2");
    }
    return missing;
}

/**
 * Mount points of the cgroup hierarchies: the v1 controllers (the kubelet's), and with
 * `withUnified` the cgroup2 mount too (this machine's hybrid set-up: runc also makes the
 * containers' paths there, so cleanup looks there as well).
 */
function cgroupMounts(withUnified = false): string[] {
    return fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")
        .map((line) => line.split(" "))
        .filter((fields) => fields.length > 8 && (fields[fields.indexOf("-") + 1] === "cgroup" || (withUnified && fields[fields.indexOf("-") + 1] === "cgroup2")))
        .map((fields) => fields[4]);
}

/** Every cgroup directory under the node's root, deepest first. */
function cgroupTree(cgroupRoot: string): string[] {
    const found: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            if (entry.isDirectory()) {
                walk(path.join(dir, entry.name));
            }
        }
        found.push(dir);
    };
    for (const mount of cgroupMounts(true)) {
        const root = path.join(mount, cgroupRoot);
        if (fs.existsSync(root)) {
            walk(root);
        }
    }
    return found;
}

function writeFile(file: string, text: string): string {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
}

/** Runs a command; "" when it fails (for cleanup, which goes on whatever fails). */
function quiet(command: string, args: readonly string[]): Promise<string> {
    return new Promise((resolve) => execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => resolve(error ? "" : stdout)));
}

const timed = async <T>(state: NodeState, name: string, body: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
        return await body();
    } finally {
        state.timings[name] = (Date.now() - started) / 1000;
    }
};

/**
 * First part, before the control plane: checks, the host's state, the bridge (the API server
 * listens on its address) and the cgroup root.
 */
export async function prepareNode(binDir: string, dir: string): Promise<NodeState> {
    const missing = await missingRuntimePackages();
    if (missing.length > 0) {
        throw new Error(`the node needs Debian packages that are missing: apt-get install -y ${missing.join(" ")}`);
    }
    if (fs.existsSync(`/sys/class/net/${NETWORK.bridge}`)) {
        throw new Error(`a link ${NETWORK.bridge} exists already: another node run is active, or one was not cleaned up (ip link del ${NETWORK.bridge})`);
    }
    const state: NodeState = { dir, binDir, before: await hostState(), timings: {} };
    fs.mkdirSync(dir, { recursive: true });
    await timed(state, "bridge", async () => {
        state.bridge = true;
        await run("ip", ["link", "add", NETWORK.bridge, "type", "bridge"]);
        await run("ip", ["addr", "add", `${NETWORK.address}/${NETWORK.prefixLength}`, "dev", NETWORK.bridge]);
        await run("ip", ["link", "set", NETWORK.bridge, "up"]);
        // The Service range goes to the bridge too: before kube-proxy's rules exist, a ClusterIP packet
        // dies on the bridge instead of following the default route out of the machine.
        await run("ip", ["route", "add", NETWORK.serviceCidr, "dev", NETWORK.bridge, "src", NETWORK.address]);
        // Pod -> ClusterIP -> another pod (the backup Job to PostgreSQL): kube-proxy's DNAT sends the packet back out of the
        // bridge it came in by, which is forwarding. Only the bridge forwards (its own sysctl, gone with it; ip_forward and
        // every other interface stay as they were), and a table of the run's own drops anything between the bridge and any
        // other interface, so nothing a pod sends leaves the machine.
        fs.writeFileSync(`/proc/sys/net/ipv4/conf/${NETWORK.bridge}/forwarding`, "1");
        await run("nft", ["-f", "-"], { input: `table ip ${NETWORK.forwardTable} {
    chain forward {
        type filter hook forward priority filter; policy accept;
        iifname "${NETWORK.bridge}" oifname "${NETWORK.bridge}" accept
        iifname "${NETWORK.bridge}" drop
        oifname "${NETWORK.bridge}" drop
    }
}
` });
    });
    // One cgroup root of the run's own in every v1 hierarchy; cpuset needs its cpus and mems.
    state.cgroupRoot = `/workshop-e2e-${randomBytes(4).toString("hex")}`;
    for (const mount of cgroupMounts()) {
        const cg = path.join(mount, state.cgroupRoot);
        fs.mkdirSync(cg);
        if (fs.existsSync(path.join(mount, "cpuset.cpus"))) {
            for (const file of ["cpuset.cpus", "cpuset.mems"]) {
                fs.writeFileSync(path.join(cg, file), fs.readFileSync(path.join(mount, file), "utf8").trim());
            }
        }
    }
    return state;
}

function containerdConfig(state: NodeState, pauseImage: string): string {
    const { dir, binDir } = state;
    const q = (text: string) => JSON.stringify(text);
    return `version = 3
root = ${q(path.join(dir, "containerd", "root"))}
state = ${q(path.join(dir, "containerd", "state"))}
# NRI would open a socket under /var/run/nri; nothing here uses it.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = ${q(state.containerdSocket as string)}

[ttrpc]
  address = ${q(`${state.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(path.join(dir, "containerd", "opt"))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    # Imported by the run; it can never be pulled.
    sandbox = ${q(pauseImage)}

[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj for the pause container.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(path.join(binDir, "runc"))}
        Root = ${q(path.join(dir, "runc"))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(path.join(dir, "cni", "bin"))}]
    conf_dir = ${q(path.join(dir, "cni", "net.d"))}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** The rest, after the control plane: containerd and the images, the CNI, the kubelet, kube-proxy, storage. */
export async function startNode(state: NodeState, tools: NodeTools, processes: Processes, plane: ControlPlane): Promise<void> {
    const { dir, binDir } = state;
    const bin = (name: string) => path.join(binDir, name);
    const images = fs.readFileSync(tools.imagesList, "utf8").trim().split("\n").map((line) => line.split(" ") as [string, string]);
    const pauseImage = images.find(([, ref]) => ref.includes("/pause:"))?.[1];
    if (!pauseImage) {
        throw new Error(`no pause image in ${tools.imagesList}`);
    }

    // --- CNI: the plugins of e2e/tools and one bridge network.
    const cniBin = path.join(dir, "cni", "bin");
    fs.mkdirSync(cniBin, { recursive: true });
    for (const plugin of ["bridge", "host-local", "loopback", "portmap"]) {
        fs.symlinkSync(bin(plugin), path.join(cniBin, plugin));
    }
    writeFile(path.join(dir, "cni", "net.d", "10-workshop-e2e.conflist"), JSON.stringify({
        cniVersion: "1.0.0",
        name: "workshop-e2e",
        plugins: [
            {
                type: "bridge", bridge: NETWORK.bridge,
                // No gateway role (it would switch ip_forward on) and no masquerade: nothing leaves the bridge.
                isGateway: false, ipMasq: false, hairpinMode: true,
                ipam: {
                    type: "host-local",
                    dataDir: path.join(dir, "cni", "ipam"),
                    ranges: [[{ subnet: NETWORK.podSubnet, rangeStart: NETWORK.podRangeStart, rangeEnd: NETWORK.podRangeEnd, gateway: NETWORK.address }]],
                    // Pods reach the Service range (kube-proxy's rules on the host) and the bridge's subnet, nothing else.
                    routes: [{ dst: NETWORK.serviceCidr, gw: NETWORK.address }],
                },
            },
            { type: "portmap", capabilities: { portMappings: true } },
        ],
    }, null, 2));

    // --- containerd, then the images.
    state.containerdSocket = path.join(dir, "containerd", "containerd.sock");
    const config = writeFile(path.join(dir, "containerd", "config.toml"), containerdConfig(state, pauseImage));
    await timed(state, "containerd", async () => {
        state.containerd = processes.start("containerd", bin("containerd"), ["--config", config],
            { ...process.env, PATH: `${binDir}:${process.env.PATH}` });
        await until("containerd to answer", 30_000, async () => {
            if (state.containerd?.child.exitCode !== null) {
                throw new Error(`containerd exited:\n${processes.tail(state.containerd as Service)}`);
            }
            return (await ctr(state, "version")) ? true : undefined;
        });
    });
    await timed(state, "images", async () => {
        for (const archive of [...new Set(images.map(([file]) => file))]) {
            await run(bin("ctr"), ["--address", state.containerdSocket as string, "-n", "k8s.io", "images", "import",
                "--platform", "linux/amd64", "--snapshotter", "overlayfs", archive]);
        }
        for (const [, ref] of images) {
            // Pinned: the kubelet's image garbage collection never removes them.
            await run(bin("ctr"), ["--address", state.containerdSocket as string, "-n", "k8s.io", "images", "label", ref, "io.cri-containerd.pinned=pinned"]);
        }
    });

    // --- the kubelet.
    const ca = fs.readFileSync(plane.caFile);
    const kubeletKubeconfig = path.join(dir, "kubelet", "kubeconfig");
    fs.mkdirSync(path.dirname(kubeletKubeconfig), { recursive: true });
    writeKubeconfig(kubeletKubeconfig, { server: plane.server, ca,
        cert: fs.readFileSync(path.join(plane.pki, "kubelet.crt")), key: fs.readFileSync(path.join(plane.pki, "kubelet.key")) });
    const [kubeletPort, kubeletHealthz] = [await freePort(), await freePort()];
    state.kubeletPort = kubeletPort;
    const kubeletConfig = writeFile(path.join(dir, "kubelet", "config.json"), JSON.stringify({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        // This machine has cgroup v1 only (see shared/notes/real-node.md).
        failCgroupV1: false,
        cgroupDriver: "cgroupfs",
        cgroupRoot: state.cgroupRoot,
        address: NETWORK.address,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: "127.0.0.1",
        healthzPort: kubeletHealthz,
        authentication: { x509: { clientCAFile: plane.caFile }, webhook: { enabled: false }, anonymous: { enabled: false } },
        // Only clients with a certificate of the run's CA get here (the API server, for logs, exec and port-forward).
        authorization: { mode: "AlwaysAllow" },
        containerRuntimeEndpoint: `unix://${state.containerdSocket}`,
        // Else the kubelet writes iptables chains of its own.
        makeIPTablesUtilChains: false,
        podLogsDir: path.join(dir, "pod-logs"),
        volumePluginDir: path.join(dir, "kubelet", "volume-plugins"),
        // Pods resolve cluster names only, through CoreDNS (startClusterDns); the host's resolv.conf is not theirs.
        resolvConf: "",
        clusterDNS: [NETWORK.address],
        clusterDomain: NETWORK.clusterDomain,
        failSwapOn: false,
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        nodeStatusUpdateFrequency: "4s",
        nodeStatusReportFrequency: "20s",
        syncFrequency: "10s",
        serializeImagePulls: false,
        shutdownGracePeriod: "0s",
    }, null, 2));
    state.kubeletArgs = [
        `--config=${kubeletConfig}`, `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${path.join(dir, "kubelet", "root")}`, `--cert-dir=${path.join(dir, "kubelet", "pki")}`,
        // The node IP cannot be loopback: the bridge address.
        `--node-ip=${NETWORK.address}`, `--hostname-override=${NODE_NAME}`, "--v=2",
    ];
    await timed(state, "kubelet", async () => {
        startKubelet(state, processes);
        await waitForNodeReady(state, processes, plane, 90_000);
    });

    // --- kube-proxy (nftables): Services on the host, for the pods and the host alike.
    const proxyKubeconfig = path.join(dir, "kube-proxy", "kubeconfig");
    fs.mkdirSync(path.dirname(proxyKubeconfig), { recursive: true });
    writeKubeconfig(proxyKubeconfig, { server: plane.server, ca,
        cert: fs.readFileSync(path.join(plane.pki, "kube-proxy.crt")), key: fs.readFileSync(path.join(plane.pki, "kube-proxy.key")) });
    const [proxyHealthz, proxyMetrics] = [await freePort(), await freePort()];
    const proxyConfig = writeFile(path.join(dir, "kube-proxy", "config.json"), JSON.stringify({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "nftables",
        clientConnection: { kubeconfig: proxyKubeconfig },
        hostnameOverride: NODE_NAME,
        bindAddress: NETWORK.address,
        healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
        metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
        clusterCIDR: NETWORK.podSubnet,
        // 0: leave the host's conntrack settings as they are.
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
        nodePortAddresses: [`${NETWORK.address}/32`],
    }, null, 2));
    await timed(state, "kube-proxy", async () => {
        state.kubeProxy = processes.start("kube-proxy", bin("kube-proxy"), [`--config=${proxyConfig}`, "--v=2"]);
        await until("kube-proxy's nftables table", 60_000, async () => {
            if (state.kubeProxy?.child.exitCode !== null) {
                throw new Error(`kube-proxy exited:\n${processes.tail(state.kubeProxy as Service)}`);
            }
            const rules = await quiet("nft", ["list", "table", "ip", "kube-proxy"]);
            return rules.includes(NETWORK.kubernetesServiceIp) ? true : undefined;
        });
    });

    await timed(state, "coredns", () => startClusterDns(state, processes, plane));

    // --- storage: local PersistentVolumes under a default StorageClass with no provisioner.
    await timed(state, "storage", async () => {
        await plane.api.create("/apis/storage.k8s.io/v1/storageclasses", {
            apiVersion: "storage.k8s.io/v1",
            kind: "StorageClass",
            metadata: { name: STORAGE_CLASS, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
            provisioner: "kubernetes.io/no-provisioner",
            volumeBindingMode: "WaitForFirstConsumer",
            reclaimPolicy: "Retain",
        });
        for (let i = 0; i < LOCAL_VOLUMES; i++) {
            const volumeDir = path.join(dir, "volumes", `pv-${i}`);
            fs.mkdirSync(volumeDir, { recursive: true });
            await plane.api.create("/api/v1/persistentvolumes", {
                apiVersion: "v1",
                kind: "PersistentVolume",
                metadata: { name: `workshop-e2e-local-${i}` },
                spec: {
                    capacity: { storage: "50Gi" },
                    accessModes: ["ReadWriteOnce"],
                    persistentVolumeReclaimPolicy: "Retain",
                    storageClassName: STORAGE_CLASS,
                    local: { path: volumeDir },
                    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [NODE_NAME] }] }] } },
                },
            });
        }
    });
}

/**
 * The pods' cluster DNS: CoreDNS of e2e/tools (the release kubeadm installs, with the kubernetes
 * plugin), a host process on the bridge address, port 53, that the kubelet names as clusterDNS.
 * Not a Deployment behind a kube-dns Service, as kubeadm runs it: that needs an image of its own and
 * proves nothing the stack uses; what the stack needs is that pods resolve Service names (the backup
 * Job and the restore pod reach PostgreSQL by `postgres.<namespace>.svc.cluster.local`). Only the
 * cluster's zone is served, with no forwarder: no query leaves the machine, other names are refused.
 */
async function startClusterDns(state: NodeState, processes: Processes, plane: ControlPlane): Promise<void> {
    const corefile = writeFile(path.join(state.dir, "coredns", "Corefile"), `${NETWORK.clusterDomain}:53 {
    bind ${NETWORK.address}
    errors
    log
    kubernetes ${NETWORK.clusterDomain} {
        kubeconfig ${plane.kubeconfig}
    }
}
`);
    state.coredns = processes.start("coredns", path.join(state.binDir, "coredns"), ["-conf", corefile]);
    const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([NETWORK.address]);
    await until("CoreDNS to resolve the kubernetes Service", 30_000, async () => {
        if (state.coredns?.child.exitCode !== null) {
            throw new Error(`coredns exited:\n${processes.tail(state.coredns as Service)}`);
        }
        const addresses = await resolver.resolve4(`kubernetes.default.svc.${NETWORK.clusterDomain}`);
        return addresses.includes(NETWORK.kubernetesServiceIp) ? true : undefined;
    });
}

export function ctr(state: NodeState, ...args: string[]): Promise<string> {
    return quiet(path.join(state.binDir, "ctr"), ["--address", state.containerdSocket ?? "", "-n", "k8s.io", ...args]);
}

export function startKubelet(state: NodeState, processes: Processes): Service {
    const starts = Object.keys(state.timings).filter((key) => key.startsWith("kubelet")).length;
    state.kubelet = processes.start(starts === 0 ? "kubelet" : `kubelet-${starts + 1}`, path.join(state.binDir, "kubelet"), state.kubeletArgs ?? []);
    return state.kubelet;
}

/** SIGTERM to the kubelet, as a node losing its kubelet; its containers go on running. */
export async function stopKubelet(state: NodeState): Promise<void> {
    const kubelet = state.kubelet;
    if (kubelet?.child.pid !== undefined && kubelet.child.exitCode === null && kubelet.child.signalCode === null) {
        process.kill(-kubelet.child.pid, "SIGTERM");
        await kubelet.exited;
    }
}

export async function waitForNodeReady(state: NodeState, processes: Processes, plane: ControlPlane, timeoutMs: number): Promise<void> {
    await until(`node ${NODE_NAME} to be Ready`, timeoutMs, async () => {
        if (state.kubelet?.child.exitCode !== null) {
            throw new Error(`the kubelet exited:\n${processes.tail(state.kubelet as Service, 30)}`);
        }
        const node = await plane.api.find(`/api/v1/nodes/${NODE_NAME}`);
        return node?.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ? true : undefined;
    }, 500);
}

async function signalAndWait(service: Service | undefined, graceMs: number): Promise<boolean> {
    if (service?.child.pid === undefined || service.child.exitCode !== null || service.child.signalCode !== null) {
        return true;
    }
    try {
        process.kill(-service.child.pid, "SIGTERM");
    } catch {
        return true;
    }
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
    if (await Promise.race([service.exited, timer]) !== "timeout") {
        return true;
    }
    try {
        process.kill(-service.child.pid, "SIGKILL");
    } catch {
        // Gone meanwhile.
    }
    await service.exited;
    return false;
}

function killPids(pids: readonly number[]): void {
    for (const pid of pids) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // Gone meanwhile.
        }
    }
}

/** Processes in the node's cgroups (the containers, whatever their parent). */
function cgroupPids(cgroupRoot: string | undefined): number[] {
    if (!cgroupRoot) {
        return [];
    }
    const pids = new Set<number>();
    for (const dir of cgroupTree(cgroupRoot)) {
        try {
            fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter((l) => l !== "").forEach((pid) => pids.add(Number(pid)));
        } catch {
            // Removed meanwhile.
        }
    }
    return [...pids];
}

/**
 * Stops the node and removes all it made, in any state: kube-proxy and the kubelet, every container
 * and sandbox (through containerd, then by killing what is left in the node's cgroups), the shims
 * and containerd, every mount under the run's directory and the runtime's fixed paths, the veths and
 * the bridge, kube-proxy's nftables tables, the cgroups, and the fixed paths the runtime created.
 * `beforeNetwork` runs once no container is left and before the network goes (to stop the control
 * plane). Returns what is still left (an empty list when the host is as it was), and the seconds.
 */
export async function stopNode(state: NodeState, beforeNetwork: () => Promise<void> = async () => undefined): Promise<{ left: string[]; notes: string[]; seconds: number }> {
    const started = Date.now();
    const notes: string[] = [];
    // 1. Nothing may start containers again, or program rules.
    if (!await signalAndWait(state.kubeProxy, 10_000)) {
        notes.push("kube-proxy needed SIGKILL");
    }
    if (!await signalAndWait(state.kubelet, 10_000)) {
        notes.push("the kubelet needed SIGKILL");
    }
    if (!await signalAndWait(state.coredns, 10_000)) {
        notes.push("coredns needed SIGKILL");
    }
    // 2. Every container and sandbox, through containerd while it runs.
    if (state.containerd && state.containerd.child.exitCode === null) {
        const ids = (await ctr(state, "containers", "ls", "-q")).split("\n").filter((id) => id !== "");
        for (const id of ids) {
            await ctr(state, "tasks", "kill", "--all", "--signal", "SIGKILL", id);
        }
        for (const id of ids) {
            await until(`container ${id} to stop`, 10_000, async () => {
                const task = await ctr(state, "tasks", "ls");
                return task.includes(id) && /RUNNING|PAUSED/.test(task.split("\n").find((l) => l.startsWith(id)) ?? "") ? undefined : true;
            }).catch(() => notes.push(`container ${id} did not stop on SIGKILL`));
            await ctr(state, "tasks", "delete", "--force", id);
            await ctr(state, "containers", "delete", id);
        }
    }
    // 3. Whatever is left in the node's cgroups, then containerd and its shims.
    killPids(cgroupPids(state.cgroupRoot));
    if (!await signalAndWait(state.containerd, 10_000)) {
        notes.push("containerd needed SIGKILL");
    }
    const shims = processesMentioning(state.dir).map((line) => Number(line.split(":")[0]));
    killPids(shims);
    await until("the node's processes to end", 10_000, async () =>
        (processesMentioning(state.dir).length === 0 && cgroupPids(state.cgroupRoot).length === 0 ? true : undefined)).catch(() => undefined);
    // 4. Mounts under the run's directory and the fixed paths that did not exist before, deepest first.
    const fixedNew = ["/run/containerd", "/var/lib/kubelet", "/var/lib/cni", "/run/netns", "/var/run/netns", "/var/log/containers", "/var/log/pods"]
        .filter((dir) => !state.before.paths.includes(dir));
    const ours = (mountPoint: string) => mountPoint.startsWith(`${state.dir}/`) || fixedNew.some((dir) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
    for (let round = 0; round < 3; round++) {
        const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((line) => line.split(" ")[4]).filter((m) => m && ours(m));
        if (mounts.length === 0) {
            break;
        }
        for (const mountPoint of mounts.sort((a, b) => b.length - a.length)) {
            await quiet("umount", [mountPoint]);
            if (fs.readFileSync("/proc/self/mountinfo", "utf8").includes(` ${mountPoint} `)) {
                await quiet("umount", ["-l", mountPoint]);
            }
        }
    }
    // The control plane stops here, while the bridge address it listens on still exists: the API
    // server calls itself there on its way out (its lease, the kubernetes Service's endpoint).
    await beforeNetwork();
    // 5. Links: veths left on the bridge, then the bridge (its routes go with it).
    if (state.bridge) {
        const ports = (await quiet("ip", ["-o", "link", "show", "master", NETWORK.bridge])).split("\n")
            .filter((line) => line.trim() !== "").map((line) => line.split(":")[1].trim().split("@")[0]);
        for (const port of ports) {
            await quiet("ip", ["link", "del", port]);
        }
        await quiet("ip", ["link", "del", NETWORK.bridge]);
    }
    // 6. kube-proxy's tables (nftables mode: one per family), and the bridge's forwarding rules.
    for (const family of ["ip", "ip6"]) {
        if (!state.before.nftTables.includes(`table ${family} kube-proxy`)) {
            await quiet("nft", ["delete", "table", family, "kube-proxy"]);
        }
    }
    if (state.bridge && !state.before.nftTables.includes(`table ip ${NETWORK.forwardTable}`)) {
        await quiet("nft", ["delete", "table", "ip", NETWORK.forwardTable]);
    }
    // 7. cgroups, deepest first (a cgroup can be removed once it has no process).
    if (state.cgroupRoot) {
        for (const dir of cgroupTree(state.cgroupRoot)) {
            try {
                fs.rmdirSync(dir);
            } catch (error) {
                notes.push(`rmdir ${dir}: ${(error as Error).message}`);
            }
        }
    }
    // 8. The fixed paths the runtime created.
    for (const dir of fixedNew) {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    const after = await hostState();
    const left = [
        ...leftovers(state.before, after),
        ...processesMentioning(state.dir).map((p) => `process ${p}`),
        ...(state.cgroupRoot ? cgroupTree(state.cgroupRoot).map((dir) => `cgroup ${dir}`) : []),
    ];
    return { left, notes, seconds: (Date.now() - started) / 1000 };
}

/**
 * Whether the cluster the stack deploys to is one only this machine can reach: a kind, minikube,
 * k3d, Docker Desktop, Rancher Desktop, OrbStack or Colima cluster, or any whose API server listens
 * on a loopback address. The stack's published credentials (the dev stack) are allowed there only.
 *
 * The kubeconfig is read as the Kubernetes provider and kube/clusterReader.ts read it, synchronously,
 * so that a refusal comes before the program registers any resource. Tests replace it with
 * `useKubeContext`.
 */
import type * as KubernetesClient from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { BlockList, isIP } from "net";
import { kubeconfigProblem } from "./clusterProblems";
import { ClusterTarget, loadKubeconfig } from "./clusterReader";
import type { ClusterLocality } from "../config/exposure";

/** The current context as the kubeconfig names it. */
export interface KubeContextView {
    readonly context?: string;
    readonly cluster?: string;
    /** The API server's URL. */
    readonly server?: string;
    /** Why the kubeconfig could not be read. */
    readonly error?: string;
}

/** Context or cluster names of the tools that run a cluster on this machine. */
const LOCAL_TOOLS: readonly { readonly tool: string; readonly name: RegExp }[] = [
    { tool: "kind", name: /^kind-/ },
    { tool: "minikube", name: /^minikube$/ },
    { tool: "k3d", name: /^k3d-/ },
    { tool: "Docker Desktop", name: /^docker-(desktop|for-desktop)$/ },
    { tool: "Rancher Desktop", name: /^rancher-desktop$/ },
    { tool: "OrbStack", name: /^orbstack$/ },
    { tool: "Colima", name: /^colima(-|$)/ },
];

/** Names those tools give this machine, or the VM they run the cluster in. */
const HOST_ALIASES = new Set(["kubernetes.docker.internal", "host.docker.internal", "host.k3d.internal", "host.lima.internal"]);

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("0.0.0.0", "ipv4");
LOOPBACK.addAddress("::1", "ipv6");
LOOPBACK.addAddress("::", "ipv6");
LOOPBACK.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

/**
 * Private and link-local ranges, where minikube and the desktop tools put their VM. Not 100.64.0.0/10:
 * a Tailscale address there is reachable by every machine of the tailnet.
 */
const HOST_ONLY = new BlockList();
HOST_ONLY.addSubnet("10.0.0.0", 8, "ipv4");
HOST_ONLY.addSubnet("172.16.0.0", 12, "ipv4");
HOST_ONLY.addSubnet("192.168.0.0", 16, "ipv4");
HOST_ONLY.addSubnet("169.254.0.0", 16, "ipv4");
HOST_ONLY.addSubnet("fc00::", 7, "ipv6");
HOST_ONLY.addSubnet("fe80::", 10, "ipv6");

function inList(list: BlockList, host: string): boolean {
    const family = isIP(host);
    return family !== 0 && list.check(host, family === 4 ? "ipv4" : "ipv6");
}

/** Local: an API server on a loopback address; or a local tool's context on an address of this machine or its VM. */
export function classifyCluster(view: KubeContextView): ClusterLocality {
    if (view.error !== undefined) {
        return { local: false, description: `the kubeconfig could not be read (${view.error}), so the cluster cannot be told local`, kubeconfigProblem: view.error };
    }
    let host: string | undefined;
    try {
        host = view.server ? new URL(view.server).hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase() : undefined;
    } catch {
        host = undefined;
    }
    const which = `context ${JSON.stringify(view.context ?? "")}${host ? ` (API server ${host})` : ""}`;
    if (host === undefined || host === "") {
        return { local: false, description: `${which} names no API server URL` };
    }
    if (host === "localhost" || host.endsWith(".localhost") || inList(LOOPBACK, host)) {
        return { local: true, description: `${which}: the API server is on this machine` };
    }
    const tool = LOCAL_TOOLS.find((entry) => [view.context, view.cluster].some((name) => name !== undefined && entry.name.test(name)));
    if (tool && (HOST_ALIASES.has(host) || inList(HOST_ONLY, host))) {
        return { local: true, description: `${which}: a ${tool.tool} cluster on this machine's private network` };
    }
    return {
        local: false,
        description: `${which}: the API server is not on a loopback address${tool ? ", nor on a private one" : ""}, ` +
            `and the context is ${tool ? "" : "not "}named like a local cluster's (kind, minikube, k3d, Docker Desktop, Rancher Desktop, OrbStack, Colima)`,
    };
}

let override: KubeContextView | undefined;

/** Replaces the kubeconfig for every read (tests); undefined restores the real one. */
export function useKubeContext(view: KubeContextView | undefined): void {
    override = view;
}

/** The context the Kubernetes provider will use, from the same settings (kubernetes:kubeconfig, context, cluster). */
export function readKubeContext(target: ClusterTarget): KubeContextView {
    if (override) {
        return override;
    }
    try {
        // An ES module, loaded synchronously (Node.js 24 requires ES modules), and only on a stack that needs the answer.
        const { KubeConfig } = require("@kubernetes/client-node") as typeof KubernetesClient;
        // Read as the cluster reads read it, so that both see the same context, cluster and first error.
        const { config, state } = loadKubeconfig(KubeConfig, target);
        const problem = kubeconfigProblem(state);
        if (problem !== undefined) {
            return { error: problem };
        }
        const context = config.getCurrentContext();
        const clusterName = target.cluster ?? state.contextCluster;
        const cluster = clusterName === undefined ? undefined : config.getCluster(clusterName);
        return { context, cluster: clusterName, server: cluster?.server };
    } catch (error) {
        return { error: (error as Error).message };
    }
}

export function clusterLocality(target: ClusterTarget): ClusterLocality {
    return classifyCluster(readKubeContext(target));
}

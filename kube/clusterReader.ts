/**
 * Read-only look-ups in the cluster that the Kubernetes provider will deploy to, made by the
 * program itself where the provider offers no answer: whether a retained object exists and whose
 * it is, and a LoadBalancer Service's address and events. Nothing here writes to the cluster.
 *
 * Tests replace the reader with `useClusterReader`, as the Pulumi mocks replace the engine.
 */
import type { CoreV1Api } from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { loadBalancerVerdict, ServiceId } from "./loadBalancer";

/** Which cluster: the same settings the program gives its Kubernetes providers. */
export interface ClusterTarget {
    /** Contents or path of a kubeconfig (default: $KUBECONFIG or ~/.kube/config). */
    readonly kubeconfig?: string;
    readonly context?: string;
    readonly cluster?: string;
}

export interface ClusterReader {
    /** The object's annotations; undefined when it does not exist. */
    namespaceAnnotations(name: string): Promise<Record<string, string> | undefined>;
    claimAnnotations(namespace: string, name: string): Promise<Record<string, string> | undefined>;
    /** The Service's age, load-balancer ingress and events. */
    loadBalancer(service: ServiceId): Promise<{ ageSeconds: number; ingress: { ip?: string; hostname?: string }[]; events: { type?: string; reason?: string; message?: string }[] }>;
}

let override: ClusterReader | undefined;
const readers = new Map<string, Promise<ClusterReader>>();

/** Replaces the reader for every target (tests); undefined restores the real one. */
export function useClusterReader(reader: ClusterReader | undefined): void {
    override = reader;
}

export function clusterReader(target: ClusterTarget): Promise<ClusterReader> {
    if (override) {
        return Promise.resolve(override);
    }
    const key = JSON.stringify(target);
    if (!readers.has(key)) {
        readers.set(key, kubeReader(target));
    }
    return readers.get(key) as Promise<ClusterReader>;
}

function notFound(error: unknown): boolean {
    return (error as { code?: number })?.code === 404;
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
    try {
        return await read;
    } catch (error) {
        if (notFound(error)) {
            return undefined;
        }
        throw new Error(`could not read the cluster: ${(error as Error).message}`);
    }
}

async function kubeReader(target: ClusterTarget): Promise<ClusterReader> {
    // An ES module: loaded only when a real cluster is read, so mocked runs never pay for it.
    const { KubeConfig, CoreV1Api: Api } = await import("@kubernetes/client-node");
    const config = new KubeConfig();
    if (target.kubeconfig === undefined) {
        config.loadFromDefault();
    } else if (target.kubeconfig.trimStart().startsWith("apiVersion") || target.kubeconfig.includes("\n")) {
        config.loadFromString(target.kubeconfig);
    } else {
        config.loadFromFile(target.kubeconfig);
    }
    if (target.context !== undefined) {
        config.setCurrentContext(target.context);
    }
    if (target.cluster !== undefined) {
        // As the provider's `cluster` setting: the current context's user against another cluster of the kubeconfig.
        const current = config.getContextObject(config.getCurrentContext());
        config.addContext({ name: "workshop-postgres-reader", cluster: target.cluster, user: current?.user ?? "" });
        config.setCurrentContext("workshop-postgres-reader");
    }
    const api: CoreV1Api = config.makeApiClient(Api);
    return {
        namespaceAnnotations: async (name) => {
            const found = await orUndefined(api.readNamespace({ name }));
            return found && (found.metadata?.annotations ?? {});
        },
        claimAnnotations: async (namespace, name) => {
            const found = await orUndefined(api.readNamespacedPersistentVolumeClaim({ namespace, name }));
            return found && (found.metadata?.annotations ?? {});
        },
        loadBalancer: async ({ namespace, name }) => {
            const service = await api.readNamespacedService({ namespace, name });
            const events = await api.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${name}` });
            const created = service.metadata?.creationTimestamp ? new Date(service.metadata.creationTimestamp).getTime() : Date.now();
            return {
                ageSeconds: (Date.now() - created) / 1000,
                ingress: (service.status?.loadBalancer?.ingress ?? []).map((entry) => ({ ip: entry.ip, hostname: entry.hostname })),
                events: events.items.map((event) => ({ type: event.type, reason: event.reason, message: event.message })),
            };
        },
    };
}

const POLL_MS = 1000;

/** The Service's load-balancer address, waiting while a controller may still provide one. */
export async function loadBalancerHost(reader: ClusterReader, service: ServiceId): Promise<string> {
    for (;;) {
        const verdict = loadBalancerVerdict(service, await reader.loadBalancer(service));
        if (verdict.kind === "ready") {
            return verdict.host;
        }
        if (verdict.kind === "fail") {
            throw new Error(verdict.message);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

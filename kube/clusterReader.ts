/**
 * Read-only look-ups in the cluster that the Kubernetes provider will deploy to, made by the
 * program itself where the provider offers no answer: whether a retained object exists and whose
 * it is, and a LoadBalancer Service's address and events. Nothing here writes to the cluster.
 *
 * Tests replace the reader with `useClusterReader`, as the Pulumi mocks replace the engine.
 */
import type { CoreV1Api } from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { LoadBalancerObservation, loadBalancerVerdict, ServiceId } from "./loadBalancer";
import { refusal } from "./refusal";

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
    /** The Service's age, load-balancer ingress and events; undefined when it does not exist. */
    loadBalancer(service: ServiceId): Promise<LoadBalancerObservation | undefined>;
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

/** The API's own reason ("services \"postgres\" is forbidden: …"), not the client's message, which carries every response header. */
function reason(error: unknown): string {
    const { code, body } = error as { code?: unknown; body?: unknown };
    if (typeof code !== "number") {
        return (error as Error)?.message ?? String(error);
    }
    let status: { message?: unknown } | undefined;
    try {
        status = (typeof body === "string" ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    } catch {
        status = undefined;
    }
    return typeof status?.message === "string" ? `HTTP ${code}: ${status.message}` : `HTTP ${code}`;
}

/** The object, or undefined when the cluster has none such yet (a 404). */
async function orUndefined<T>(what: string, read: Promise<T>): Promise<T | undefined> {
    try {
        return await read;
    } catch (error) {
        if ((error as { code?: number })?.code === 404) {
            return undefined;
        }
        throw refusal(`could not read ${what} from the cluster: ${reason(error)}`);
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
            const found = await orUndefined(`namespace ${name}`, api.readNamespace({ name }));
            return found && (found.metadata?.annotations ?? {});
        },
        claimAnnotations: async (namespace, name) => {
            const found = await orUndefined(`PersistentVolumeClaim ${namespace}/${name}`, api.readNamespacedPersistentVolumeClaim({ namespace, name }));
            return found && (found.metadata?.annotations ?? {});
        },
        loadBalancer: async ({ namespace, name }) => {
            // A preview reads a Service that its update has not created yet.
            const service = await orUndefined(`Service ${namespace}/${name}`, api.readNamespacedService({ namespace, name }));
            if (service === undefined) {
                return undefined;
            }
            const events = await orUndefined(`the events of Service ${namespace}/${name}`,
                api.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${name}` }));
            const created = service.metadata?.creationTimestamp ? new Date(service.metadata.creationTimestamp).getTime() : Date.now();
            return {
                ageSeconds: (Date.now() - created) / 1000,
                ingress: (service.status?.loadBalancer?.ingress ?? []).map((entry) => ({ ip: entry.ip, hostname: entry.hostname })),
                events: (events?.items ?? []).map((event) => ({ type: event.type, reason: event.reason, message: event.message })),
            };
        },
    };
}

const POLL_MS = 1000;

/** The address, or why there will be none; "unknown" only in a preview, which shows the plan instead of waiting. */
export type LoadBalancerAddress =
    | { readonly kind: "ready"; readonly host: string }
    | { readonly kind: "unknown" }
    | { readonly kind: "fail"; readonly message: string };

/**
 * The Service's load-balancer address, waiting while a controller may still provide one. A
 * preview reads once: a Service it has not created yet, or one still waiting for its address, is unknown.
 */
export async function loadBalancerAddress(reader: ClusterReader, service: ServiceId, preview: boolean): Promise<LoadBalancerAddress> {
    for (;;) {
        const seen = await reader.loadBalancer(service);
        if (seen === undefined) {
            return preview ? { kind: "unknown" } : {
                kind: "fail",
                message: `the Service ${service.namespace}/${service.name} that this update created is not in the cluster the program reads; ` +
                    "the program reads the cluster of the stack's kubernetes:kubeconfig, kubernetes:context and kubernetes:cluster, " +
                    "else the current kube context, as the Kubernetes provider does: check that nothing else deleted the Service",
            };
        }
        const verdict = loadBalancerVerdict(service, seen);
        if (verdict.kind !== "wait") {
            return verdict;
        }
        if (preview) {
            return { kind: "unknown" };
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

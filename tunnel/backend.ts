/**
 * Which pod and port a new tunnel connection goes to, as `kubectl port-forward svc/…` chooses:
 * the Service's selector and target port, a Ready pod that is not being deleted. Asked again for
 * every connection, so the tunnel follows a restarted or replaced pod. Pure: the tunnel reads the
 * Service and the pods, this decides.
 */

/** The parts of a Service the choice reads (client-node's V1Service has them). */
export interface ServiceFacts {
    readonly spec?: {
        readonly selector?: Record<string, string>;
        readonly ports?: readonly { readonly port: number; readonly targetPort?: number | string }[];
    };
}

/** The parts of a Pod the choice reads (client-node's V1Pod has them). */
export interface PodFacts {
    readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: Date | string; readonly creationTimestamp?: Date | string };
    readonly spec?: { readonly containers: readonly { readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[] }[] };
    readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

export type Backend =
    | { readonly kind: "pod"; readonly pod: string; readonly port: number }
    /** Nothing to connect to yet (a first `up`, a pod starting): the tunnel waits and asks again. */
    | { readonly kind: "wait"; readonly reason: string };

/** The label selector of a Service's selector, for a pod list. */
export function labelSelector(selector: Record<string, string>): string {
    return Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(",");
}

export function chooseBackend(serviceId: string, service: ServiceFacts | undefined, pods: readonly PodFacts[]): Backend {
    if (service === undefined) {
        return { kind: "wait", reason: `Service ${serviceId} does not exist yet` };
    }
    const selector = service.spec?.selector ?? {};
    const target = service.spec?.ports?.[0];
    if (Object.keys(selector).length === 0 || target === undefined) {
        return { kind: "wait", reason: `Service ${serviceId} has no selector or no port` };
    }
    const ready = pods
        .filter((pod) => pod.metadata?.deletionTimestamp === undefined || pod.metadata.deletionTimestamp === null)
        .filter((pod) => pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True"))
        // The newest first: during a rollout the old pod may still be Ready for a moment.
        .sort((a, b) => String(time(b.metadata?.creationTimestamp)).localeCompare(String(time(a.metadata?.creationTimestamp))));
    const pod = ready[0];
    if (pod === undefined) {
        const state = pods.length === 0 ? "no pod" : `${pods.length} pod(s), none Ready`;
        return { kind: "wait", reason: `Service ${serviceId} selects ${state} (${labelSelector(selector)})` };
    }
    const wanted = target.targetPort ?? target.port;
    const port = typeof wanted === "number"
        ? wanted
        : pod.spec?.containers.flatMap((container) => container.ports ?? []).find((candidate) => candidate.name === wanted)?.containerPort;
    if (port === undefined) {
        return { kind: "wait", reason: `pod ${pod.metadata?.name} has no port named ${wanted}` };
    }
    return { kind: "pod", pod: pod.metadata?.name as string, port };
}

function time(value: Date | string | undefined): string {
    return value instanceof Date ? value.toISOString() : value ?? "";
}

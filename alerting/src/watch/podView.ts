/** The facts of a PostgreSQL pod the watcher decides on, read from a Kubernetes Pod object. */

export interface ContainerTermination {
    readonly reason: string;
    readonly exitCode: number;
}

export interface PodView {
    readonly uid: string;
    readonly name: string;
    readonly namespace: string;
    readonly node?: string;
    readonly ip?: string;
    readonly phase: string;
    /** status.reason, such as "Evicted". */
    readonly reason?: string;
    readonly message?: string;
    /** deletionTimestamp is set. */
    readonly terminating: boolean;
    /** deletionGracePeriodSeconds; 0 is a forced deletion. */
    readonly gracePeriodSeconds?: number;
    readonly ready: boolean;
    /** The PostgreSQL container's state, when it has one. */
    readonly restarts: number;
    readonly waitingReason?: string;
    readonly terminated?: ContainerTermination;
    readonly lastTerminated?: ContainerTermination;
}

/** The subset of a V1Pod that is read; structural, so plain JSON pods type-check too. */
export interface PodObject {
    metadata?: { uid?: string; name?: string; namespace?: string; deletionTimestamp?: unknown; deletionGracePeriodSeconds?: number };
    spec?: { nodeName?: string };
    status?: {
        phase?: string;
        reason?: string;
        message?: string;
        podIP?: string;
        conditions?: { type: string; status: string }[];
        containerStatuses?: {
            name: string;
            restartCount?: number;
            state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number } };
            lastState?: { terminated?: { reason?: string; exitCode?: number } };
        }[];
    };
}

function termination(state?: { reason?: string; exitCode?: number }): ContainerTermination | undefined {
    return state ? { reason: state.reason ?? "Terminated", exitCode: state.exitCode ?? -1 } : undefined;
}

export function podView(pod: PodObject, containerName: string): PodView {
    const container = pod.status?.containerStatuses?.find((status) => status.name === containerName);
    return {
        uid: pod.metadata?.uid ?? pod.metadata?.name ?? "",
        name: pod.metadata?.name ?? "unknown",
        namespace: pod.metadata?.namespace ?? "unknown",
        node: pod.spec?.nodeName,
        ip: pod.status?.podIP,
        phase: pod.status?.phase ?? "Unknown",
        reason: pod.status?.reason,
        message: pod.status?.message,
        terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
        gracePeriodSeconds: pod.metadata?.deletionGracePeriodSeconds,
        ready: pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false,
        restarts: container?.restartCount ?? 0,
        waitingReason: container?.state?.waiting?.reason,
        terminated: termination(container?.state?.terminated),
        lastTerminated: termination(container?.lastState?.terminated),
    };
}

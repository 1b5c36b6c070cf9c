/** The facts of a PostgreSQL pod the watcher decides on, read from a Kubernetes Pod object. */

export interface ContainerTermination {
    readonly reason: string;
    readonly exitCode: number;
    /** finishedAt, in milliseconds since the epoch. */
    readonly finishedAt?: number;
}

export interface PodView {
    readonly uid: string;
    readonly name: string;
    readonly namespace: string;
    /** metadata.resourceVersion: a deletion reported with the copy last seen is a pod that vanished during a watch gap. */
    readonly resourceVersion?: string;
    /** metadata.creationTimestamp, in milliseconds. */
    readonly createdAt?: number;
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
    /** When the deletion was asked for: deletionTimestamp minus the grace period. */
    readonly deletionRequestedAt?: number;
    readonly ready: boolean;
    /** lastTransitionTime of the Ready condition: when the pod became ready, or stopped being ready. */
    readonly readyChangedAt?: number;
    /**
     * The pod's node is known to be gone: the node controller marked the pod NodeLost, or deleted it
     * because of an unreachable node (taint manager) or a deleted node (pod GC). Its log cannot be read.
     */
    readonly nodeLost: boolean;
    /** The PostgreSQL container's state, when it has one. */
    readonly restarts: number;
    readonly waitingReason?: string;
    readonly terminated?: ContainerTermination;
    readonly lastTerminated?: ContainerTermination;
}

/** A time as the API gives it: a string in watch events, a Date once client-node has deserialised a list. */
export type ApiTime = string | Date | null | undefined;

/** The subset of a V1Pod that is read; structural, so plain JSON pods type-check too. */
export interface PodObject {
    metadata?: {
        uid?: string; name?: string; namespace?: string; resourceVersion?: string; creationTimestamp?: ApiTime;
        deletionTimestamp?: ApiTime; deletionGracePeriodSeconds?: number;
    };
    spec?: { nodeName?: string };
    status?: {
        phase?: string;
        reason?: string;
        message?: string;
        podIP?: string;
        conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: ApiTime }[];
        containerStatuses?: {
            name: string;
            restartCount?: number;
            state?: { waiting?: { reason?: string }; terminated?: TerminatedState };
            lastState?: { terminated?: TerminatedState };
        }[];
    };
}

interface TerminatedState {
    reason?: string;
    exitCode?: number;
    finishedAt?: ApiTime;
}

/** Reasons the node controller, the taint manager and pod GC give a pod whose node is unreachable or deleted. */
const NODE_LOST_REASONS = new Set(["NodeLost", "DeletionByTaintManager", "DeletionByPodGC"]);

export function millis(time: ApiTime): number | undefined {
    if (time === null || time === undefined) {
        return undefined;
    }
    const value = time instanceof Date ? time.getTime() : Date.parse(time);
    return Number.isNaN(value) ? undefined : value;
}

function termination(state?: TerminatedState): ContainerTermination | undefined {
    return state ? { reason: state.reason ?? "Terminated", exitCode: state.exitCode ?? -1, finishedAt: millis(state.finishedAt) } : undefined;
}

export function podView(pod: PodObject, containerName: string): PodView {
    const container = pod.status?.containerStatuses?.find((status) => status.name === containerName);
    const conditions = pod.status?.conditions ?? [];
    const readyCondition = conditions.find((condition) => condition.type === "Ready");
    const deletionAt = millis(pod.metadata?.deletionTimestamp);
    const grace = pod.metadata?.deletionGracePeriodSeconds;
    const nodeLost = NODE_LOST_REASONS.has(pod.status?.reason ?? "") ||
        conditions.some((condition) => condition.type === "DisruptionTarget" && condition.status === "True" && NODE_LOST_REASONS.has(condition.reason ?? ""));
    return {
        uid: pod.metadata?.uid ?? pod.metadata?.name ?? "",
        name: pod.metadata?.name ?? "unknown",
        namespace: pod.metadata?.namespace ?? "unknown",
        resourceVersion: pod.metadata?.resourceVersion,
        createdAt: millis(pod.metadata?.creationTimestamp),
        node: pod.spec?.nodeName,
        ip: pod.status?.podIP,
        phase: pod.status?.phase ?? "Unknown",
        reason: pod.status?.reason,
        message: pod.status?.message,
        terminating: deletionAt !== undefined,
        gracePeriodSeconds: grace,
        deletionRequestedAt: deletionAt === undefined ? undefined : deletionAt - (grace ?? 0) * 1000,
        ready: readyCondition?.status === "True",
        readyChangedAt: millis(readyCondition?.lastTransitionTime),
        nodeLost,
        restarts: container?.restartCount ?? 0,
        waitingReason: container?.state?.waiting?.reason,
        terminated: termination(container?.state?.terminated),
        lastTerminated: termination(container?.lastState?.terminated),
    };
}

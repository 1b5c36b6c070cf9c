/** The facts of a backup Job the watcher decides on, read from a Kubernetes batch/v1 Job. */
import { ApiTime, millis } from "./podView";

export type JobOutcome = "running" | "succeeded" | "failed";

export interface JobView {
    readonly uid: string;
    readonly name: string;
    readonly namespace: string;
    /** metadata.creationTimestamp, in milliseconds. */
    readonly createdAt?: number;
    readonly outcome: JobOutcome;
    /**
     * A success: status.completionTime (else the Complete condition's time). A failure: when the Job
     * controller first knew, the FailureTarget condition (while the pods stop) or else the Failed one.
     */
    readonly finishedAt?: number;
    /** The Failed condition's reason and message, such as BackoffLimitExceeded or DeadlineExceeded. */
    readonly reason?: string;
    readonly message?: string;
    /** status.failed: how many of its pods failed. */
    readonly failedPods: number;
}

interface JobCondition {
    type: string;
    status: string;
    reason?: string;
    message?: string;
    lastTransitionTime?: ApiTime;
}

/** The subset of a V1Job that is read; structural, so plain JSON Jobs type-check too. */
export interface JobObject {
    metadata?: { uid?: string; name?: string; namespace?: string; creationTimestamp?: ApiTime };
    status?: { completionTime?: ApiTime; failed?: number; conditions?: JobCondition[] };
}

export function jobView(job: JobObject): JobView {
    const conditions = job.status?.conditions ?? [];
    const holds = (type: string) => conditions.find((condition) => condition.type === type && condition.status === "True");
    const complete = holds("Complete");
    const failed = holds("Failed");
    const failureTimes = [holds("FailureTarget"), failed].map((condition) => millis(condition?.lastTransitionTime))
        .filter((time): time is number => time !== undefined);
    return {
        uid: job.metadata?.uid ?? job.metadata?.name ?? "",
        name: job.metadata?.name ?? "unknown",
        namespace: job.metadata?.namespace ?? "unknown",
        createdAt: millis(job.metadata?.creationTimestamp),
        outcome: failed ? "failed" : complete ? "succeeded" : "running",
        finishedAt: failed ? (failureTimes.length > 0 ? Math.min(...failureTimes) : undefined)
            : complete ? millis(job.status?.completionTime) ?? millis(complete.lastTransitionTime) : undefined,
        reason: failed?.reason,
        message: failed?.message,
        failedPods: job.status?.failed ?? 0,
    };
}

/**
 * The pod watcher's decisions, as a pure function over snapshots of the PostgreSQL pods.
 *
 * One incident at a time: its first failure is mailed, later failures (restarts, CrashLoopBackOff,
 * flaps) are counted and summed up in the one recovery mail, sent once a pod has stayed ready for
 * the threshold. A graceful stop is announced by the preStop hook, so the watcher stays silent
 * about it unless no pod is ready again within the threshold; it mails the recovery.
 */
import type { PodView } from "./podView";

interface PodMemory {
    readonly restarts: number;
    readonly phase: string;
    readonly terminating: boolean;
}

export interface Incident {
    readonly openedAt: number;
    readonly reason: string;
    /** Who told people it is down: the watcher, or (for a graceful stop) the preStop hook. */
    readonly announcedBy: "watcher" | "preStop hook";
    /** Failures seen after the first, not mailed separately. */
    readonly furtherFailures: number;
    /** Times a pod became ready and lost it again before the incident could close. */
    readonly flaps: number;
}

export interface WatchState {
    readonly pods: Readonly<Record<string, PodMemory>>;
    /** Since when no ready pod (that is not terminating) has been seen; undefined while one is. */
    readonly noReadySince?: number;
    /** During an incident: since when a ready pod has been seen without a break. */
    readonly readySince?: number;
    readonly incident?: Incident;
    /** Whether a "down" mail went out from the watcher for the open incident. */
    readonly downMailed: boolean;
}

export interface Observation {
    /** Milliseconds since the epoch. */
    readonly at: number;
    /** Every PostgreSQL pod the API currently has. */
    readonly pods: readonly PodView[];
    /** A pod the API just removed, if this observation is a deletion. */
    readonly deleted?: PodView;
}

export interface Decision {
    readonly kind: "down" | "recovered";
    readonly reason: string;
    /** The pod the alert is about, when there is one. */
    readonly pod?: PodView;
    readonly exitCode?: number;
    readonly restarts?: number;
    readonly notes: readonly string[];
    /** Read the log of the previous container (it crashed) rather than the current one. */
    readonly previousLog: boolean;
}

interface Failure {
    readonly reason: string;
    readonly pod: PodView;
    readonly exitCode?: number;
    readonly previousLog: boolean;
}

export function initialState(at: number): WatchState {
    // Counting from start-up catches a pod that never becomes ready.
    return { pods: {}, noReadySince: at, downMailed: false };
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;

/** Failures this snapshot shows that the previous ones did not. */
function newFailures(state: WatchState, observation: Observation): { failures: Failure[]; gracefulStop?: PodView } {
    const failures: Failure[] = [];
    let gracefulStop: PodView | undefined;
    for (const pod of observation.pods) {
        const before = state.pods[pod.uid];
        if (before === undefined) {
            // A pod seen for the first time carries no news; an outage it is part of shows as "not ready".
            continue;
        }
        if (pod.restarts > before.restarts) {
            const last = pod.lastTerminated ?? pod.terminated;
            const exit = last?.reason ?? "container restarted";
            const reason = pod.waitingReason === "CrashLoopBackOff" ? `CrashLoopBackOff, last exit ${exit}` : exit;
            failures.push({ reason, pod, exitCode: last?.exitCode, previousLog: true });
        }
        if (pod.phase === "Failed" && before.phase !== "Failed") {
            failures.push({ reason: pod.reason ?? "pod failed", pod, exitCode: pod.terminated?.exitCode, previousLog: false });
        }
        if (pod.terminating && !before.terminating) {
            if ((pod.gracePeriodSeconds ?? 1) > 0 && pod.phase === "Running") {
                gracefulStop = pod;
            } else {
                failures.push({ reason: "pod deleted without a graceful stop", pod, previousLog: false });
            }
        }
    }
    const deleted = observation.deleted;
    if (deleted && !state.pods[deleted.uid]?.terminating && (deleted.gracePeriodSeconds ?? 0) === 0) {
        failures.push({ reason: "pod deleted without a graceful stop", pod: deleted, previousLog: false });
    }
    return { failures, gracefulStop };
}

function describeNoReadyPod(pods: readonly PodView[], forMs: number): string {
    if (pods.length === 0) {
        return `no PostgreSQL pod for ${seconds(forMs)} (scaled to zero or not scheduled)`;
    }
    const pod = pods[0];
    const why = pod.waitingReason ?? (pod.phase === "Pending" ? "Pending" : pod.terminating ? "terminating" : "NotReady");
    return `no ready PostgreSQL pod for ${seconds(forMs)} (${pod.name}: ${why})`;
}

export interface Outcome {
    readonly state: WatchState;
    /** Mails to send, in order. */
    readonly decisions: Decision[];
    /** Failures folded into the open incident instead of mailed (for the watcher's log). */
    readonly counted: string[];
}

export function decide(state: WatchState, observation: Observation, thresholdMs: number): Outcome {
    const now = observation.at;
    const decisions: Decision[] = [];
    const counted: string[] = [];
    const { failures, gracefulStop } = newFailures(state, observation);
    const readyPods = observation.pods.filter((pod) => pod.ready && !pod.terminating);
    const noReadySince = readyPods.length > 0 ? undefined : (state.noReadySince ?? now);
    let incident = state.incident;
    let downMailed = state.downMailed;
    let readySince = state.readySince;

    const mailDown = (reason: string, pod: PodView | undefined, failure?: Failure, notes: string[] = []) => {
        decisions.push({
            kind: "down", reason, pod, exitCode: failure?.exitCode, restarts: pod?.restarts, notes, previousLog: failure?.previousLog ?? false,
        });
        downMailed = true;
    };

    for (const failure of failures) {
        if (incident === undefined) {
            incident = { openedAt: now, reason: failure.reason, announcedBy: "watcher", furtherFailures: 0, flaps: 0 };
            mailDown(failure.reason, failure.pod, failure);
        } else if (!downMailed) {
            // After a graceful stop, a failure is news the preStop mail did not cover.
            mailDown(failure.reason, failure.pod, failure, [`This follows a graceful stop at ${new Date(incident.openedAt).toISOString()}.`]);
        } else {
            incident = { ...incident, furtherFailures: incident.furtherFailures + 1 };
            counted.push(failure.reason);
            // A failure means the pod is not stable yet: the recovery wait starts over.
            readySince = undefined;
        }
    }
    if (gracefulStop && incident === undefined) {
        incident = { openedAt: now, reason: "graceful stop", announcedBy: "preStop hook", furtherFailures: 0, flaps: 0 };
        downMailed = false;
    }

    if (noReadySince !== undefined && now - noReadySince >= thresholdMs && !downMailed) {
        const reason = describeNoReadyPod(observation.pods, now - noReadySince);
        const notes = incident?.announcedBy === "preStop hook" ? ["The pod was stopped gracefully and no replacement is ready yet."] : [];
        incident ??= { openedAt: noReadySince, reason, announcedBy: "watcher", furtherFailures: 0, flaps: 0 };
        mailDown(reason, observation.pods[0], undefined, notes);
    }

    if (incident !== undefined) {
        if (readyPods.length > 0) {
            readySince ??= now;
            if (now - readySince >= thresholdMs) {
                const notes = [`Down for ${seconds(readySince - incident.openedAt)}, since ${new Date(incident.openedAt).toISOString()} (${incident.reason}).`];
                if (incident.furtherFailures > 0 || incident.flaps > 0) {
                    notes.push(`During the incident: ${incident.furtherFailures} further failure(s) and ${incident.flaps} flap(s), not mailed one by one.`);
                }
                notes.push(`Ready without a break for ${seconds(now - readySince)}.`);
                decisions.push({ kind: "recovered", reason: "a PostgreSQL pod is ready again", pod: readyPods[0], restarts: readyPods[0].restarts, notes, previousLog: false });
                incident = undefined;
                downMailed = false;
                readySince = undefined;
            }
        } else if (readySince !== undefined) {
            incident = { ...incident, flaps: incident.flaps + 1 };
            readySince = undefined;
        }
    }

    const pods: Record<string, PodMemory> = {};
    for (const pod of observation.pods) {
        pods[pod.uid] = { restarts: pod.restarts, phase: pod.phase, terminating: pod.terminating };
    }
    return { state: { pods, noReadySince, readySince, incident, downMailed }, decisions, counted };
}

/** When the state next needs a look even if no event arrives (a threshold ends), if ever. */
export function nextCheckAt(state: WatchState, thresholdMs: number): number | undefined {
    const times: number[] = [];
    if (state.noReadySince !== undefined && !state.downMailed) {
        times.push(state.noReadySince + thresholdMs);
    }
    if (state.incident !== undefined && state.readySince !== undefined) {
        times.push(state.readySince + thresholdMs);
    }
    return times.length > 0 ? Math.min(...times) : undefined;
}

/**
 * The pod watcher's decisions, as a pure function over snapshots of the PostgreSQL pods.
 *
 * One incident at a time: its first failure is mailed, later failures (restarts, CrashLoopBackOff,
 * flaps) are counted and summed up in the one recovery mail, sent once a pod has stayed ready for
 * the threshold. A graceful stop is announced by the preStop hook, so the watcher stays silent
 * about it unless no pod is ready again within the threshold; it mails the recovery.
 *
 * What happened while the watcher could not see (a watch gap, before a new watcher's first look)
 * is judged from what the statuses prove, never from a field the last copy lacks. Failures come from
 * `podFailures`; the backup Jobs have decisions of their own (backups.ts), by the same rules.
 */
import type { PodView } from "./podView";

interface PodMemory {
    readonly restarts: number;
    readonly phase: string;
    readonly terminating: boolean;
    readonly ready: boolean;
    readonly resourceVersion?: string;
    /** finishedAt of the newest failed container end already judged (0: none); absent in a state saved before it was kept. */
    readonly failedEndAt?: number;
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
    /** How long no pod was ready in the outages of the incident that have ended: the time the database was really down. */
    readonly downMs: number;
    /** How many such outages the incident held. */
    readonly outages: number;
}

/** Plain data (JSON), so that a restarted watcher can carry on from it. */
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
    /** Pods the API removed since the last observation. */
    readonly deleted?: readonly PodView[];
    /**
     * The watcher cannot vouch for what happened between this time and `at`: the time of its last
     * sure look before this observation (the start of a watch gap, or, for a new watcher, how far
     * back it looks). What the pods' statuses show happened since then is news. Default `at`.
     */
    readonly unseenSince?: number;
}

export interface Decision {
    readonly kind: "down" | "recovered";
    readonly reason: string;
    /** When the failure began (or the pod was ready again), as far as the watcher can tell: the mail's "When". */
    readonly since: number;
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
    readonly since: number;
    readonly exitCode?: number;
    readonly previousLog: boolean;
    readonly notes?: string[];
}

function openIncident(openedAt: number, reason: string, announcedBy: Incident["announcedBy"]): Incident {
    return { openedAt, reason, announcedBy, furtherFailures: 0, flaps: 0, downMs: 0, outages: 0 };
}

export function initialState(): WatchState {
    // noReadySince is set by the first observation, so a pod that never becomes ready is caught.
    return { pods: {}, downMailed: false };
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
export const iso = (ms: number) => new Date(ms).toISOString();

/** A time from the pod's status, kept inside the span the observation can speak for. */
export function within(time: number | undefined, from: number, to: number): number {
    return time === undefined ? to : Math.min(to, Math.max(from, time));
}

const failedTermination = (pod: PodView) =>
    [pod.lastTerminated, pod.terminated].find((end) => end !== undefined && (end.exitCode !== 0 || end.reason === "OOMKilled"));

/** The newest failed end of the pod's container, of those whose time is known: the current state's or the last one's. */
const newestFailedEnd = (pod: PodView) => [pod.terminated, pod.lastTerminated]
    .filter((end) => end !== undefined && end.finishedAt !== undefined && (end.exitCode !== 0 || end.reason === "OOMKilled"))
    .sort((a, b) => (b?.finishedAt as number) - (a?.finishedAt as number))[0];

/** When a pod stopped serving, if its status says: deletion asked for, or the Ready condition turned False. */
function notReadyFrom(pod: PodView): number | undefined {
    const times = [pod.terminating ? pod.deletionRequestedAt : undefined, pod.ready ? undefined : pod.readyChangedAt]
        .filter((time): time is number => time !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
}

/**
 * Failures of the PostgreSQL pods this snapshot shows that the previous ones did not.
 * (Pod-specific; the incident handling in `decide` works on any failure.)
 */
function podFailures(state: WatchState, observation: Observation): { failures: Failure[]; gracefulStop?: PodView } {
    const failures: Failure[] = [];
    const unseen = observation.unseenSince ?? observation.at;
    const when = (time: number | undefined) => within(time, unseen, observation.at);
    let gracefulStop: PodView | undefined;
    for (const pod of observation.pods) {
        const before = state.pods[pod.uid];
        if (before === undefined) {
            // A pod seen for the first time carries news only if its status shows a failure the watcher could not see.
            const end = failedTermination(pod);
            if (end?.finishedAt !== undefined && end.finishedAt >= unseen && unseen < observation.at) {
                failures.push({
                    reason: pod.phase === "Failed" ? (pod.reason ?? "pod failed") : end.reason, pod, since: when(end.finishedAt),
                    exitCode: end.exitCode, previousLog: end === pod.lastTerminated,
                    notes: [`Found in the pod's status: the container ended at ${iso(end.finishedAt)}, while the watcher was not watching (since ${iso(unseen)}).`],
                });
            }
            continue;
        }
        // A container that ended is news when it ends, not only once the kubelet restarts it: after an earlier
        // crash the kubelet backs off (10 s, doubling), and the restart count waits for the restart.
        const end = newestFailedEnd(pod);
        const endedNow = end !== undefined && pod.phase !== "Failed" && before.failedEndAt !== undefined && (end.finishedAt as number) > before.failedEndAt;
        const restartOfJudgedEnd = before.failedEndAt !== undefined && pod.lastTerminated?.finishedAt !== undefined && pod.lastTerminated.finishedAt <= before.failedEndAt;
        if (endedNow || (pod.restarts > before.restarts && !restartOfJudgedEnd)) {
            const last = endedNow ? end : pod.lastTerminated ?? pod.terminated;
            const exit = last?.reason ?? "container restarted";
            const reason = pod.waitingReason === "CrashLoopBackOff" ? `CrashLoopBackOff, last exit ${exit}` : exit;
            failures.push({ reason, pod, since: when(last?.finishedAt), exitCode: last?.exitCode, previousLog: true });
        }
        if (pod.phase === "Failed" && before.phase !== "Failed") {
            failures.push({ reason: pod.reason ?? "pod failed", pod, since: when(pod.terminated?.finishedAt), exitCode: pod.terminated?.exitCode, previousLog: false });
        }
        if (pod.terminating && !before.terminating) {
            // No preStop hook runs on a lost node, whatever the grace period.
            if ((pod.gracePeriodSeconds ?? 1) > 0 && pod.phase === "Running" && !pod.nodeLost) {
                gracefulStop = pod;
            } else {
                failures.push({ reason: pod.nodeLost ? "node lost" : "pod deleted without a graceful stop", pod, since: when(notReadyFrom(pod)), previousLog: false });
            }
        }
    }
    for (const deleted of observation.deleted ?? []) {
        const before = state.pods[deleted.uid];
        // The copy the watcher last saw: the pod vanished while the watch was down and how it ended is unknown.
        // It is judged by whether a pod is ready again within the threshold, like any other outage.
        const vanished = before?.resourceVersion !== undefined && before.resourceVersion === deleted.resourceVersion;
        if (!vanished && !before?.terminating && deleted.terminating && deleted.gracePeriodSeconds === 0) {
            failures.push({ reason: deleted.nodeLost ? "node lost" : "pod deleted without a graceful stop", pod: deleted, since: observation.at, previousLog: false });
        }
    }
    return { failures, gracefulStop };
}

/**
 * Since when no pod has been ready, from what the statuses tell: the pods that were ready stopped
 * at their Ready condition's change or deletion; one that vanished stopped no later than its
 * replacement was created. Unknown: now.
 */
function outageStart(state: WatchState, observation: Observation): number {
    const unseen = observation.unseenSince ?? observation.at;
    const byUid = new Map(observation.pods.map((pod) => [pod.uid, pod]));
    const newPods = observation.pods.filter((pod) => state.pods[pod.uid] === undefined);
    const replacedAt = newPods.length > 0 && newPods.every((pod) => pod.createdAt !== undefined)
        ? Math.min(...newPods.map((pod) => pod.createdAt as number)) : undefined;
    const wereReady = Object.entries(state.pods).filter(([, memory]) => memory.ready && !memory.terminating).map(([uid]) => uid);
    const stops = wereReady.length > 0
        ? wereReady.map((uid) => (byUid.has(uid) ? notReadyFrom(byUid.get(uid) as PodView) : replacedAt))
        : observation.pods.map(notReadyFrom);
    const known = stops.length > 0 && stops.every((time) => time !== undefined);
    return within(known ? Math.max(...(stops as number[])) : undefined, unseen, observation.at);
}

/** An outage that began and ended while the watcher could not see it, if the statuses prove one. */
function unseenOutage(state: WatchState, observation: Observation, readyPods: readonly PodView[]): { start: number; end: number } | undefined {
    if (observation.unseenSince === undefined || readyPods.some((pod) => state.pods[pod.uid]?.ready && !state.pods[pod.uid]?.terminating)) {
        return undefined;
    }
    const readyFrom = readyPods.map((pod) => pod.readyChangedAt);
    if (readyFrom.some((time) => time === undefined)) {
        return undefined;
    }
    const end = within(Math.min(...(readyFrom as number[])), observation.unseenSince, observation.at);
    return { start: Math.min(end, outageStart(state, { ...observation, at: end })), end };
}

/**
 * An outage that this observation shows has ended: from when no pod was ready (as the watcher saw,
 * or, after a relist, from a failure every ready pod became ready after) until one was again.
 */
function endedOutage(state: WatchState, observation: Observation, readyPods: readonly PodView[], failures: readonly Failure[]): { start: number; end: number } | undefined {
    if (readyPods.length === 0) {
        return undefined;
    }
    const readyFrom = readyPods.map((pod) => pod.readyChangedAt);
    const known = readyFrom.every((time) => time !== undefined);
    const end = within(known ? Math.min(...(readyFrom as number[])) : undefined, observation.unseenSince ?? observation.at, observation.at);
    if (state.noReadySince !== undefined) {
        return { start: Math.min(state.noReadySince, end), end };
    }
    const failedBefore = failures.map((failure) => failure.since).filter((since) => since < end);
    return known && failedBefore.length > 0 ? { start: Math.min(...failedBefore), end } : undefined;
}

/**
 * The recovery mail's account of the incident: how long the database was really down (no ready
 * pod) and, when that differs, how long the incident lasted and how many outages it held.
 */
function outageNote(incident: Incident, lastedMs: number): string {
    const since = `since ${iso(incident.openedAt)} (${incident.reason})`;
    if (incident.outages === 0) {
        return `No time without a ready pod was seen; the incident lasted ${seconds(lastedMs)}, ${since}.`;
    }
    if (incident.outages === 1 && seconds(incident.downMs) === seconds(lastedMs)) {
        return `Down for ${seconds(incident.downMs)}, ${since}.`;
    }
    return `Down for ${seconds(incident.downMs)} in all (no ready pod), in ${incident.outages} outage(s) during an incident of ${seconds(lastedMs)}, ${since}.`;
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
    const unseen = observation.unseenSince ?? now;
    const decisions: Decision[] = [];
    const counted: string[] = [];
    const { failures, gracefulStop } = podFailures(state, observation);
    const readyPods = observation.pods.filter((pod) => pod.ready && !pod.terminating);
    const noReadySince = readyPods.length > 0 ? undefined : (state.noReadySince ?? outageStart(state, observation));
    let incident = state.incident;
    let downMailed = state.downMailed;
    let readySince = state.readySince;

    const mailDown = (reason: string, since: number, pod: PodView | undefined, failure?: Failure, notes: string[] = []) => {
        decisions.push({
            kind: "down", reason, since, pod, exitCode: failure?.exitCode, restarts: pod?.restarts, notes: [...notes, ...(failure?.notes ?? [])],
            previousLog: failure?.previousLog ?? false,
        });
        downMailed = true;
    };

    for (const failure of failures) {
        if (incident === undefined) {
            // From the start of the outage the failure is part of, if the pods were not ready before it.
            incident = openIncident(Math.min(failure.since, noReadySince ?? failure.since), failure.reason, "watcher");
            mailDown(failure.reason, failure.since, failure.pod, failure);
        } else if (!downMailed) {
            // After a graceful stop, a failure is news the preStop mail did not cover.
            mailDown(failure.reason, failure.since, failure.pod, failure, [`This follows a graceful stop at ${iso(incident.openedAt)}.`]);
        } else {
            incident = { ...incident, furtherFailures: incident.furtherFailures + 1 };
            counted.push(failure.reason);
            // A failure means the pod is not stable yet: the recovery wait starts over.
            readySince = undefined;
        }
    }
    if (gracefulStop && incident === undefined) {
        incident = openIncident(noReadySince ?? now, "graceful stop", "preStop hook");
        downMailed = false;
    }

    if (noReadySince !== undefined && now - noReadySince >= thresholdMs && !downMailed) {
        const reason = describeNoReadyPod(observation.pods, now - noReadySince);
        const notes = incident?.announcedBy === "preStop hook" ? ["The pod was stopped gracefully and no replacement is ready yet."] : [];
        incident ??= openIncident(noReadySince, reason, "watcher");
        mailDown(reason, noReadySince, observation.pods[0], undefined, notes);
    }

    const missed = incident === undefined ? unseenOutage(state, observation, readyPods) : undefined;
    if (missed !== undefined && missed.end - missed.start >= thresholdMs) {
        const reason = `no ready PostgreSQL pod for ${seconds(missed.end - missed.start)} while the watcher was not watching`;
        incident = { ...openIncident(missed.start, reason, "watcher"), downMs: missed.end - missed.start, outages: 1 };
        mailDown(reason, missed.start, readyPods[0], undefined, [`Ready again since ${iso(missed.end)}.`]);
        readySince = missed.end;
    } else if (incident !== undefined) {
        const ended = endedOutage(state, observation, readyPods, failures);
        if (ended !== undefined) {
            incident = { ...incident, downMs: incident.downMs + ended.end - ended.start, outages: incident.outages + 1 };
        }
    }

    if (incident !== undefined) {
        if (readyPods.length > 0) {
            const readyFrom = readyPods.map((pod) => pod.readyChangedAt);
            readySince ??= within(readyFrom.every((time) => time !== undefined) ? Math.min(...(readyFrom as number[])) : undefined, unseen, now);
            if (now - readySince >= thresholdMs) {
                const notes = [outageNote(incident, readySince - incident.openedAt)];
                if (incident.furtherFailures > 0 || incident.flaps > 0) {
                    notes.push(`During the incident: ${incident.furtherFailures} further failure(s) and ${incident.flaps} flap(s), not mailed one by one.`);
                }
                notes.push(`Ready without a break for ${seconds(now - readySince)}.`);
                decisions.push({
                    kind: "recovered", reason: "a PostgreSQL pod is ready again", since: readySince, pod: readyPods[0], restarts: readyPods[0].restarts, notes, previousLog: false,
                });
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
        const failedEndAt = Math.max(newestFailedEnd(pod)?.finishedAt ?? 0, state.pods[pod.uid]?.failedEndAt ?? 0);
        pods[pod.uid] = { restarts: pod.restarts, phase: pod.phase, terminating: pod.terminating, ready: pod.ready, resourceVersion: pod.resourceVersion, failedEndAt };
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

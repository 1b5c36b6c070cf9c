/**
 * The watcher's time budgets, as pure rules shared by the pod spec (lib/alertSpec.ts) and the
 * process: how long a stop may take, how far back a new watcher looks, how long a log read may take.
 */

/** See README, "The watcher's own health": longer than routine control-plane blips, short against the pod alerts' threshold. */
export const DEFAULT_BLIND_SECONDS = 120;
/** Longest wait for the PostgreSQL container's log before a mail goes out without it. */
export const LOG_TIMEOUT_MS = 2000;
/** Left for the process to exit after its last send, before the kubelet's SIGKILL. */
const EXIT_SLACK_SECONDS = 3;
/** Allowed for a replacement watcher pod to be scheduled, start and list. */
const START_ALLOWANCE_SECONDS = 60;

/** terminationGracePeriodSeconds of the watcher: a send that starts at SIGTERM, log read included, still ends. */
export function watcherGraceSeconds(alertDeadlineSeconds: number): number {
    return alertDeadlineSeconds + Math.ceil(LOG_TIMEOUT_MS / 1000) + EXIT_SLACK_SECONDS;
}

/** How long after SIGTERM the watcher may keep finishing its sends. */
export function stopBudgetMs(graceSeconds: number): number {
    return Math.max(0, graceSeconds - EXIT_SLACK_SECONDS) * 1000;
}

/**
 * How far back a watcher with no state of its own believes the pods' statuses: its predecessor
 * stopped taking events at most a grace period before it exited, and a replacement needs time to start.
 */
export function lookbackMs(graceSeconds: number): number {
    return (graceSeconds + START_ALLOWANCE_SECONDS) * 1000;
}

export interface LogReadContext {
    /** The pod's node is known to be gone: its kubelet cannot serve the log. */
    readonly nodeLost: boolean;
    readonly now: number;
    /** The send's own deadline, retries included. */
    readonly sendDeadlineMs: number;
    /** While stopping: the time by which everything must be sent. */
    readonly stopBy?: number;
}

/** Milliseconds the log read may take before the send; 0 skips it. */
export function logReadMs(context: LogReadContext): number {
    if (context.nodeLost) {
        return 0;
    }
    if (context.stopBy === undefined) {
        return LOG_TIMEOUT_MS;
    }
    return Math.min(LOG_TIMEOUT_MS, Math.max(0, context.stopBy - context.now - context.sendDeadlineMs));
}

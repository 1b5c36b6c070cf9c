/**
 * The watcher's decisions about backups, as a pure function over snapshots of the backup Jobs (those
 * the CronJob creates, and any created from it by hand), by the pod alerts' rules: one incident at a
 * time, its first news mailed (a failed Job, or no success for longer than twice the schedule's
 * interval), further failed Jobs counted and summed up in the one recovery mail, sent when a backup
 * Job succeeds.
 *
 * The last success is the newest completion among the Jobs seen, kept in the state because the
 * CronJob deletes all but its last few finished Jobs. A watcher without state (a new pod) learns it
 * from the Jobs the CronJob keeps, which hold the newest success unless Jobs were deleted by hand.
 * With no success known, the interval counts from the watcher's first look, or from the creation of
 * the oldest backup Job it sees if that is earlier: the CronJob keeps its newest successes whatever
 * the failures, so a kept Job without a kept success means none succeeded since that Job was made.
 *
 * What happened while the watcher could not see (a watch gap, before a new watcher's first look) is
 * judged as for pods: a Job seen for the first time is news only if it finished inside that span.
 */
import { iso, within } from "./decide";
import type { JobOutcome, JobView } from "./jobView";

export interface BackupIncident {
    /** When the first failure, or the missed deadline, was. */
    readonly openedAt: number;
    readonly reason: string;
    /**
     * Whether the watcher mailed it. Not for a failure a new watcher found older than its look-back:
     * an earlier watcher may have mailed it, so this one mails only what is news (a later failure, the
     * deadline, the recovery).
     */
    readonly mailed: boolean;
    /** Failed Jobs after the first, not mailed one by one. */
    readonly furtherFailures: number;
}

/** Plain data (JSON), so that a restarted watcher carries on from it. */
export interface BackupState {
    /** Each Job of the last snapshot, by uid, as it was then. */
    readonly jobs: Readonly<Record<string, JobOutcome>>;
    readonly lastSuccess?: { readonly at: number; readonly job: string };
    /** Where the count starts while no success is known (see above); set by the first observation. */
    readonly countingSince?: number;
    readonly incident?: BackupIncident;
}

export interface BackupObservation {
    /** Milliseconds since the epoch. */
    readonly at: number;
    /** Every backup Job the API currently has. */
    readonly jobs: readonly JobView[];
    /** As for pods: the watcher cannot vouch for what happened between this time and `at`. Default `at`. */
    readonly unseenSince?: number;
}

export interface BackupDecision {
    readonly kind: "backup-failed" | "backups-stopped" | "backups-recovered";
    readonly reason: string;
    /** The mail's "When": when the Job failed or succeeded, or when the deadline passed. */
    readonly since: number;
    /** The Job the mail is about, when there is one. */
    readonly job?: string;
    readonly notes: readonly string[];
}

export interface BackupOutcome {
    readonly state: BackupState;
    /** Mails to send, in order. */
    readonly decisions: BackupDecision[];
    /** Failed Jobs folded into the open incident instead of mailed (for the watcher's log). */
    readonly counted: string[];
}

export function initialBackupState(): BackupState {
    return { jobs: {} };
}

/** A length of time in the unit that suits it: 90s, 45min, 36h, 2d. */
export function duration(ms: number): string {
    const seconds = Math.round(ms / 1000);
    if (seconds < 120) {
        return `${seconds}s`;
    }
    if (seconds < 2 * 3600) {
        return `${Math.round(seconds / 60)}min`;
    }
    if (seconds < 2 * 86_400) {
        return `${Math.round(seconds / 3600)}h`;
    }
    return `${Number((seconds / 86_400).toFixed(1))}d`;
}

interface Finish {
    readonly job: JobView;
    readonly succeeded: boolean;
    /** When it finished, kept inside the span the observation speaks for. */
    readonly at: number;
    /**
     * "seen": the watcher knew the Job before it finished. "found": seen for the first time, finished
     * inside the span the watcher could not see (news). "history": finished before that span.
     */
    readonly how: "seen" | "found" | "history";
}

/** Jobs that finished since the previous snapshot, oldest first. */
function finishes(state: BackupState, observation: BackupObservation): Finish[] {
    const now = observation.at;
    const unseen = observation.unseenSince ?? now;
    const found: Finish[] = [];
    for (const job of observation.jobs) {
        const before = state.jobs[job.uid];
        if (job.outcome === "running" || before === job.outcome) {
            continue;
        }
        const how = before !== undefined ? "seen"
            : job.finishedAt !== undefined && job.finishedAt >= unseen && unseen < now ? "found" : "history";
        found.push({
            job, succeeded: job.outcome === "succeeded", how,
            at: how === "history" ? Math.min(job.finishedAt ?? unseen, now) : within(job.finishedAt, unseen, now),
        });
    }
    return found.sort((a, b) => a.at - b.at);
}

const failure = (job: JobView) => job.reason ?? "Job failed";

function openIncident(finish: Finish, mailed: boolean): BackupIncident {
    return { openedAt: finish.at, reason: `${finish.job.name}: ${failure(finish.job)}`, mailed, furtherFailures: 0 };
}

/** An incident a new watcher found, and did not mail, in the Jobs' statuses. */
const foundEarlier = (incident: BackupIncident) =>
    `Backups have been failing since ${iso(incident.openedAt)} (${incident.reason}), found in the Jobs' statuses when the watcher started.`;

function failureMail(finish: Finish, incident: BackupIncident | undefined, unseen: number): BackupDecision {
    const { job } = finish;
    const notes = [
        `Backup Job ${job.name} failed${job.message ? `: ${job.message}` : ""} (${job.failedPods} pod(s) failed).`,
        `Its log: kubectl -n ${job.namespace} logs job/${job.name}`,
    ];
    if (finish.how === "found") {
        notes.push(`Found in the Job's status: it failed at ${iso(finish.at)}, while the watcher was not watching (since ${iso(unseen)}).`);
    }
    if (incident !== undefined) {
        notes.push(foundEarlier(incident));
    }
    return { kind: "backup-failed", reason: failure(job), since: finish.at, job: job.name, notes };
}

export function decideBackups(state: BackupState, observation: BackupObservation, intervalMs: number): BackupOutcome {
    const now = observation.at;
    const unseen = observation.unseenSince ?? now;
    const decisions: BackupDecision[] = [];
    const counted: string[] = [];
    const created = observation.jobs.map((job) => job.createdAt).filter((time): time is number => time !== undefined);
    const countingSince = Math.min(state.countingSince ?? now, ...created);
    let { lastSuccess, incident } = state;

    for (const finish of finishes(state, observation)) {
        if (finish.succeeded) {
            if (lastSuccess === undefined || finish.at > lastSuccess.at) {
                lastSuccess = { at: finish.at, job: finish.job.name };
            }
            if (incident === undefined || finish.at < incident.openedAt) {
                continue;
            }
            // Nothing to tell when a new watcher finds a failure and a later success both in the history.
            if (incident.mailed || finish.how !== "history") {
                const notes = [`The incident began at ${iso(incident.openedAt)} (${incident.reason}).`];
                if (incident.furtherFailures > 0) {
                    notes.push(`During the incident: ${incident.furtherFailures} further failed backup Job(s), not mailed one by one.`);
                }
                if (!incident.mailed) {
                    notes.push("The watcher found the failure in the Jobs' statuses when it started; an earlier watcher may have mailed it.");
                }
                notes.push(`Backup Job ${finish.job.name} succeeded at ${iso(finish.at)}.`);
                decisions.push({ kind: "backups-recovered", reason: "a backup succeeded", since: finish.at, job: finish.job.name, notes });
            }
            incident = undefined;
        } else if (incident?.mailed) {
            incident = { ...incident, furtherFailures: incident.furtherFailures + 1 };
            counted.push(`${finish.job.name}: ${failure(finish.job)}`);
        } else if (finish.how !== "history") {
            decisions.push(failureMail(finish, incident, unseen));
            incident = incident === undefined ? openIncident(finish, true) : { ...incident, mailed: true, furtherFailures: incident.furtherFailures + 1 };
        } else if (finish.at > (lastSuccess?.at ?? -Infinity)) {
            // History: backups were failing before this watcher looked. Not news, but an incident that a success closes.
            incident = incident === undefined ? openIncident(finish, false) : { ...incident, furtherFailures: incident.furtherFailures + 1 };
        }
    }

    const base = lastSuccess?.at ?? countingSince;
    const deadline = base + 2 * intervalMs;
    if (now >= deadline && !incident?.mailed) {
        const reason = `no backup has succeeded for ${duration(now - base)}`;
        const notes = [
            lastSuccess !== undefined
                ? `The last successful backup Job, ${lastSuccess.job}, finished at ${iso(lastSuccess.at)}.`
                : `No successful backup Job seen since ${iso(countingSince)} (the watcher's first look, or the oldest backup Job it found).`,
            `The schedule runs at least every ${duration(intervalMs)}; an alert is due after twice that, at ${iso(deadline)}.`,
        ];
        if (incident !== undefined) {
            notes.push(foundEarlier(incident));
        }
        decisions.push({ kind: "backups-stopped", reason, since: deadline, notes });
        incident = { openedAt: incident?.openedAt ?? deadline, reason: incident?.reason ?? reason, mailed: true, furtherFailures: incident?.furtherFailures ?? 0 };
    }

    const jobs: Record<string, JobOutcome> = {};
    for (const job of observation.jobs) {
        jobs[job.uid] = job.outcome;
    }
    return { state: { jobs, lastSuccess, countingSince, incident }, decisions, counted };
}

/** When the state next needs a look even if no Job changes (the deadline), if ever. */
export function nextBackupCheckAt(state: BackupState, intervalMs: number): number | undefined {
    const base = state.lastSuccess?.at ?? state.countingSince;
    return base === undefined || state.incident?.mailed ? undefined : base + 2 * intervalMs;
}

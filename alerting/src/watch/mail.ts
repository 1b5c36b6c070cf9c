/** What the watcher mails about, and the alert each one becomes: a pure builder. */
import { AlertMessage, buildAlert } from "../message";
import type { PodFacts } from "../settings";
import type { BackupDecision } from "./backups";
import type { Decision } from "./decide";
import type { HealthDecision } from "./health";

export type Mail =
    | { readonly about: "pod"; readonly decision: Decision }
    | { readonly about: "backups"; readonly decision: BackupDecision }
    | { readonly about: "watcher"; readonly decision: HealthDecision };

export interface MailContext {
    /** The watcher's own pod, with the namespace it watches. */
    readonly facts: PodFacts;
    readonly subjectPrefix: string;
    /** The selector of the backup Jobs, for the command a backup mail suggests. */
    readonly backupSelector?: string;
}

/** The alert for one mail; `logTail` is the PostgreSQL log read for a down pod, if any. */
export function alertFor(mail: Mail, context: MailContext, logTail?: readonly string[]): AlertMessage {
    const { decision } = mail;
    const event = { kind: decision.kind, reason: decision.reason, source: "pod watcher" as const, at: new Date(decision.since), notes: decision.notes };
    const { facts, subjectPrefix } = context;
    if (mail.about === "pod") {
        const pod = mail.decision.pod;
        return buildAlert({ ...event, exitCode: mail.decision.exitCode, restarts: mail.decision.restarts, logTail },
            { ...facts, pod: pod?.name ?? "none", node: pod?.node ?? "none", podIp: pod?.ip ?? "none" }, subjectPrefix);
    }
    if (mail.about === "backups") {
        return buildAlert({ ...event, backups: { job: mail.decision.job, check: `kubectl -n ${facts.namespace} get jobs -l ${context.backupSelector}` } }, facts, subjectPrefix);
    }
    // About the watcher itself: its own pod's facts.
    return buildAlert(event, facts, subjectPrefix);
}

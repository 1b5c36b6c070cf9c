/** Builds alert mails: a subject that fits a phone's list view, a plain-text part always, and simple HTML. */
import type { PodFacts } from "./settings";

export type AlertKind = "stopping" | "down" | "recovered" | "not-working" | "working-again"
    | "backup-failed" | "backups-stopped" | "backups-recovered" | "backup-alerts-not-working" | "backup-alerts-working-again";

export interface AlertEvent {
    readonly kind: AlertKind;
    /** Short cause, such as "pod is being stopped", "OOMKilled", "CrashLoopBackOff". */
    readonly reason: string;
    /** When it began (the mail's "When"), not when the mail is sent. */
    readonly at: Date;
    /** Which mechanism noticed: the preStop hook or the watcher. */
    readonly source: "preStop hook" | "pod watcher";
    readonly exitCode?: number;
    readonly restarts?: number;
    /** Further lines, such as how many events a summary covers. */
    readonly notes?: readonly string[];
    /** Last lines of the PostgreSQL log, when they could be read. */
    readonly logTail?: readonly string[];
    /**
     * A mail about the database's backups rather than a pod: the subject names the database, the
     * table the backup Job (if any) instead of a pod, and `check` is the command to look further.
     */
    readonly backups?: { readonly job?: string; readonly check: string };
}

export interface AlertMessage {
    readonly subject: string;
    readonly text: string;
    readonly html: string;
}

const HEADLINE: Record<AlertKind, string> = {
    stopping: "PostgreSQL pod is going down",
    down: "PostgreSQL pod is DOWN",
    recovered: "PostgreSQL pod recovered",
    "not-working": "PostgreSQL pod alerts are NOT working",
    "working-again": "PostgreSQL pod alerts work again",
    "backup-failed": "PostgreSQL backup FAILED",
    "backups-stopped": "PostgreSQL backups STOPPED",
    "backups-recovered": "PostgreSQL backups succeed again",
    "backup-alerts-not-working": "PostgreSQL backup alerts are NOT working",
    "backup-alerts-working-again": "PostgreSQL backup alerts work again",
};

export function utc(at: Date): string {
    return at.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function escapeHtml(text: string): string {
    return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function buildAlert(event: AlertEvent, facts: PodFacts, subjectPrefix: string): AlertMessage {
    const headline = HEADLINE[event.kind];
    const about = event.backups ? facts.database : facts.pod;
    const subject = `${subjectPrefix ? `${subjectPrefix} ` : ""}${headline}: ${facts.namespace}/${about} (${event.reason})`;
    const where: [string, string][] = !event.backups ? [["Pod", facts.pod], ["Namespace", facts.namespace], ["Node", facts.node], ["Pod IP", facts.podIp]]
        : event.backups.job ? [["Backup Job", event.backups.job], ["Namespace", facts.namespace]] : [["Namespace", facts.namespace]];
    const check = event.backups?.check ?? `kubectl -n ${facts.namespace} get pods,events`;
    const rows: [string, string][] = [
        ["What", `${headline}: ${event.reason}`],
        ["When", utc(event.at)],
        ...where,
        ["Service", `${facts.service}.${facts.namespace} (port 5432)`],
        ["Database", facts.database],
        ["Stack", facts.stack],
        ["Noticed by", event.source],
    ];
    if (event.exitCode !== undefined) {
        rows.push(["Exit code", String(event.exitCode)]);
    }
    if (event.restarts !== undefined) {
        rows.push(["Restarts", String(event.restarts)]);
    }
    const notes = event.notes ?? [];
    const logTail = event.logTail ?? [];
    const text = [
        `${headline}.`,
        "",
        ...rows.map(([label, value]) => `${label}: ${value}`),
        ...(notes.length ? ["", ...notes] : []),
        ...(logTail.length ? ["", "Last PostgreSQL log lines:", ...logTail.map((line) => `  ${line}`)] : []),
        "",
        `Check: ${check}`,
    ].join("\n");
    const html = [
        `<p><strong>${escapeHtml(headline)}.</strong></p>`,
        "<table>",
        ...rows.map(([label, value]) => `<tr><td><b>${escapeHtml(label)}</b></td><td>${escapeHtml(value)}</td></tr>`),
        "</table>",
        ...notes.map((note) => `<p>${escapeHtml(note)}</p>`),
        ...(logTail.length ? [`<p>Last PostgreSQL log lines:</p><pre>${escapeHtml(logTail.join("\n"))}</pre>`] : []),
        `<p><code>${escapeHtml(check)}</code></p>`,
    ].join("\n");
    return { subject, text, html };
}

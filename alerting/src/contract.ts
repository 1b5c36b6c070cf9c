/**
 * The contract across the pod boundary: what the Pulumi program validates and writes into the alert
 * pods' environment, and what the in-pod programs read back. Written once, imported by both sides.
 */

/** The environment the mailer (sidecar preStop hook) reads. */
export const MAILER_ENV = {
    to: "ALERT_TO",
    from: "ALERT_FROM",
    subjectPrefix: "ALERT_SUBJECT_PREFIX",
    deadlineSeconds: "ALERT_DEADLINE_SECONDS",
    apiKey: "SENDGRID_API_KEY",
    apiUrl: "SENDGRID_API_URL",
} as const;

/** Facts about the pod (Downward API) and the stack (the alert ConfigMap) that name it in a mail. */
export const POD_FACTS_ENV = {
    pod: "POD_NAME",
    namespace: "POD_NAMESPACE",
    node: "NODE_NAME",
    podIp: "POD_IP",
    service: "PG_SERVICE",
    database: "PG_DATABASE",
    stack: "PULUMI_STACK",
} as const;

/** The environment the pod watcher reads, besides the mailer's. */
export const WATCHER_ENV = {
    namespace: "WATCH_NAMESPACE",
    selector: "WATCH_SELECTOR",
    notReadySeconds: "NOT_READY_SECONDS",
    healthDir: "HEALTH_DIR",
    postgresContainer: "POSTGRES_CONTAINER",
    graceSeconds: "TERMINATION_GRACE_SECONDS",
    backupSelector: "BACKUP_SELECTOR",
    backupIntervalSeconds: "BACKUP_INTERVAL_SECONDS",
} as const;

/** A whole number of seconds with its default and the bounds both sides enforce. */
export interface SecondsRange {
    readonly default: number;
    readonly min: number;
    readonly max: number;
}

/** One alert send, retries included (config key alertDeadlineSeconds). */
export const ALERT_DEADLINE_SECONDS: SecondsRange = { default: 20, min: 5, max: 120 };

/** How long a PostgreSQL pod may be NotReady or absent before the watcher mails (watcherNotReadySeconds). */
export const NOT_READY_SECONDS: SecondsRange = { default: 60, min: 10, max: 3600 };

/** One e-mail address: what the stack's config accepts at preview and what the mailer accepts in the pod. */
export const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

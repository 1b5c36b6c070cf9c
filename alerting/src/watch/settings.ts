/** The watcher's settings, from the environment its Deployment gives it. Errors name the variable. */
import { ALERT_DEADLINE_SECONDS, NOT_READY_SECONDS, WATCHER_ENV as ENV } from "../contract";
import { SettingsError } from "../settings";
import { DEFAULT_BLIND_SECONDS, watcherGraceSeconds } from "./budget";

export interface WatchSettings {
    readonly namespace: string;
    readonly selector: string;
    readonly thresholdMs: number;
    /** How long it may be blind before it mails that alerts are not working (BLIND_ALERT_SECONDS, for tests). */
    readonly blindMs: number;
    readonly graceSeconds: number;
    /** Wait between failed list or watch attempts (WATCH_RETRY_SECONDS, for tests). */
    readonly retryMs: number;
    /** Probe files and the saved state; none outside a pod. */
    readonly healthDir?: string;
    readonly container: string;
    readonly logLines: number;
    /** The backup Jobs, when backups are on: their labels, and the longest time between two scheduled runs. */
    readonly backups?: { readonly selector: string; readonly intervalMs: number };
}

export function readWatchSettings(env: Readonly<Record<string, string | undefined>>): WatchSettings {
    const namespace = env[ENV.namespace]?.trim();
    const selector = env[ENV.selector]?.trim();
    const backupSelector = env[ENV.backupSelector]?.trim();
    const problems: string[] = [];
    const seconds = (name: string, fallback?: number) => {
        const value = Number(env[name] ?? fallback);
        if (!Number.isFinite(value) || value <= 0) {
            problems.push(`${name} ${JSON.stringify(env[name])} is not a positive number of seconds`);
        }
        return value;
    };
    if (!namespace) {
        problems.push(`${ENV.namespace} is empty; expected the namespace of the PostgreSQL pods`);
    }
    if (!selector) {
        problems.push(`${ENV.selector} is empty; expected a label selector such as app.kubernetes.io/name=postgresql`);
    }
    const settings: WatchSettings = {
        namespace: namespace as string,
        selector: selector as string,
        thresholdMs: seconds(ENV.notReadySeconds, NOT_READY_SECONDS.default) * 1000,
        blindMs: seconds("BLIND_ALERT_SECONDS", DEFAULT_BLIND_SECONDS) * 1000,
        graceSeconds: seconds(ENV.graceSeconds, watcherGraceSeconds(ALERT_DEADLINE_SECONDS.default)),
        retryMs: seconds("WATCH_RETRY_SECONDS", 1) * 1000,
        healthDir: env[ENV.healthDir]?.trim() || undefined,
        container: env[ENV.postgresContainer]?.trim() || "postgres",
        logLines: Number(env.LOG_LINES ?? 20),
        backups: backupSelector ? { selector: backupSelector, intervalMs: seconds(ENV.backupIntervalSeconds) * 1000 } : undefined,
    };
    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return settings;
}

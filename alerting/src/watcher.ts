/**
 * Entry point of the pod watcher: informers (list + watch, resumed after disconnects) on the
 * PostgreSQL pods of one namespace and, when backups are on, on its backup Jobs, whose snapshots go
 * through `decide` and `decideBackups`; their decisions go out through the same mailer as the preStop
 * hook. It tells the probes whether it really watches (files in HEALTH_DIR), mails when it cannot
 * watch, keeps its state there so that a restarted container carries on, and on SIGTERM finishes its
 * mails within its budget. Every outcome is one JSON line on stdout.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deliverAlert } from "./deliver";
import { buildAlert } from "./message";
import { readMailerSettings, readPodFacts, SettingsError } from "./settings";
import { BackupDecision, BackupState, decideBackups, initialBackupState, nextBackupCheckAt } from "./watch/backups";
import { DEFAULT_BLIND_SECONDS, logReadMs, lookbackMs, stopBudgetMs, watcherGraceSeconds } from "./watch/budget";
import { decide, Decision, initialState, nextCheckAt, WatchState } from "./watch/decide";
import { HealthBounds, HealthDecision, healthDecision, Outage, Watched, watcherProbes } from "./watch/health";
import { WatchedCollection } from "./watch/informer";
import { jobView } from "./watch/jobView";
import { PodView, podView } from "./watch/podView";

const HEALTH_TICK_MS = 5000;
/** A probe file holds the time until which it is true, so a stuck event loop lets it lapse. */
const PROBE_VALIDITY_MS = 15_000;
/** The client reopens a quiet watch every 30 s; three times that without a sign is a dead watch. */
const SILENT_MS = 90_000;
const RECONNECT_MS = 5000;
const STATE_FILE = "state.json";

type Mail =
    | { readonly about: "pod"; readonly decision: Decision }
    | { readonly about: "backups"; readonly decision: BackupDecision }
    | { readonly about: "watcher"; readonly decision: HealthDecision };

/** What a restarted container carries on from, in the emptyDir (never a secret: pod and Job facts and times). */
interface SavedState {
    readonly version: 2;
    /** Until when the previous process knew each cache matched the API. */
    readonly sureUntil: Partial<Record<Watched, number>>;
    readonly watch: WatchState;
    readonly backups?: BackupState;
    readonly outage?: Outage;
    /** Mails it could not finish before it stopped: handed over. */
    readonly pending: Mail[];
}

function log(event: string, fields: Record<string, unknown>): void {
    console.log(JSON.stringify({ watcher: event, time: new Date().toISOString(), ...fields }));
}

function readWatchSettings(env: NodeJS.ProcessEnv) {
    const namespace = env.WATCH_NAMESPACE?.trim();
    const selector = env.WATCH_SELECTOR?.trim();
    const backupSelector = env.BACKUP_SELECTOR?.trim();
    const problems: string[] = [];
    const seconds = (name: string, fallback?: number) => {
        const value = Number(env[name] ?? fallback);
        if (!Number.isFinite(value) || value <= 0) {
            problems.push(`${name} ${JSON.stringify(env[name])} is not a positive number of seconds`);
        }
        return value;
    };
    if (!namespace) {
        problems.push("WATCH_NAMESPACE is empty; expected the namespace of the PostgreSQL pods");
    }
    if (!selector) {
        problems.push("WATCH_SELECTOR is empty; expected a label selector such as app.kubernetes.io/name=postgresql");
    }
    const settings = {
        namespace: namespace as string,
        selector: selector as string,
        thresholdMs: seconds("NOT_READY_SECONDS", 60) * 1000,
        blindMs: seconds("BLIND_ALERT_SECONDS", DEFAULT_BLIND_SECONDS) * 1000,
        graceSeconds: seconds("TERMINATION_GRACE_SECONDS", watcherGraceSeconds(20)),
        retryMs: seconds("WATCH_RETRY_SECONDS", 1) * 1000,
        /** Probe files and the saved state; none outside a pod. */
        healthDir: env.HEALTH_DIR?.trim() || undefined,
        container: env.POSTGRES_CONTAINER?.trim() || "postgres",
        logLines: Number(env.LOG_LINES ?? 20),
        /** The backup Jobs, when backups are on: their labels, and the longest time between two scheduled runs. */
        backups: backupSelector ? { selector: backupSelector, intervalMs: seconds("BACKUP_INTERVAL_SECONDS") * 1000 } : undefined,
    };
    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return settings;
}

/** The last lines of the PostgreSQL container's log, or undefined when they cannot be read in time. */
async function logTail(api: CoreV1Api, namespace: string, pod: string, container: string, lines: number, previous: boolean, timeoutMs: number): Promise<string[] | undefined> {
    const timeout = new AbortController();
    try {
        const text = await Promise.race([
            api.readNamespacedPodLog({ name: pod, namespace, container, tailLines: lines, previous }),
            sleep(timeoutMs, undefined, { signal: timeout.signal }),
        ]);
        return typeof text === "string" ? text.split("\n").filter((line) => line !== "") : undefined;
    } catch {
        return undefined;
    } finally {
        timeout.abort();
    }
}

function readSaved(file: string | undefined): SavedState | undefined {
    if (file === undefined || !fs.existsSync(file)) {
        return undefined;
    }
    try {
        const saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedState;
        return saved.version === 2 ? saved : undefined;
    } catch (error) {
        log("state-unreadable", { error: (error as Error).message });
        return undefined;
    }
}

/** Write-then-rename, so a probe or a restarted container never reads half a file. */
function writeAtomically(file: string, text: string): void {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
    const startedAt = Date.now();
    const mailer = readMailerSettings(process.env);
    const watch = readWatchSettings(process.env);
    const baseFacts = readPodFacts(process.env);
    const bounds: HealthBounds = { reconnectMs: RECONNECT_MS, silentMs: SILENT_MS, blindMs: watch.blindMs };
    const stateFile = watch.healthDir && path.join(watch.healthDir, STATE_FILE);

    const saved = readSaved(stateFile);
    let state = saved?.watch ?? initialState();
    let backupState = saved?.backups ?? initialBackupState();
    let outage = saved?.outage;
    const queue: Mail[] = [...(saved?.pending ?? [])];
    // A new watcher cannot know what its predecessor saw, so it believes the statuses as far back as one could have missed.
    const sureUntil = (watched: Watched) => saved?.sureUntil[watched] ?? startedAt - lookbackMs(watch.graceSeconds);
    if (saved) {
        log("resumed", { sureUntil: new Date(sureUntil("pods")).toISOString(), pending: queue.length, outage: saved.outage?.reason });
    }

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const api = kubeConfig.makeApiClient(CoreV1Api);

    let stopping = false;
    let stopBy: number | undefined;
    let sending: Promise<void> | undefined;

    /** The PostgreSQL log for a down mail, if there is time and a kubelet to serve it. */
    const podLog = async (decision: Decision, pod: PodView) => {
        const readMs = logReadMs({ nodeLost: pod.nodeLost, now: Date.now(), sendDeadlineMs: mailer.deadlineMs, stopBy });
        if (readMs === 0) {
            log("log-skipped", { pod: pod.name, why: pod.nodeLost ? "node lost" : "no time left before the stop" });
            return undefined;
        }
        return logTail(api, watch.namespace, pod.name, watch.container, watch.logLines, decision.previousLog, readMs);
    };

    const send = async (mail: Mail) => {
        const { decision } = mail;
        const event = { kind: decision.kind, reason: decision.reason, source: "pod watcher" as const, at: new Date(decision.since), notes: decision.notes };
        const facts = { ...baseFacts, namespace: watch.namespace };
        const message = mail.about === "pod"
            ? buildAlert({
                ...event, exitCode: mail.decision.exitCode, restarts: mail.decision.restarts,
                logTail: mail.decision.pod && mail.decision.kind === "down" ? await podLog(mail.decision, mail.decision.pod) : undefined,
            }, {
                ...facts, pod: mail.decision.pod?.name ?? "none", node: mail.decision.pod?.node ?? "none", podIp: mail.decision.pod?.ip ?? "none",
            }, mailer.subjectPrefix)
            : mail.about === "backups"
                ? buildAlert({ ...event, backups: { job: mail.decision.job, check: `kubectl -n ${watch.namespace} get jobs -l ${watch.backups?.selector}` } }, facts, mailer.subjectPrefix)
                // About the watcher itself: its own pod's facts.
                : buildAlert(event, facts, mailer.subjectPrefix);
        try {
            const outcome = await deliverAlert(message, mailer);
            log("alert", { kind: decision.kind, reason: decision.reason, outcome: outcome.mode });
        } catch (error) {
            log("alert-failed", { kind: decision.kind, reason: decision.reason, error: (error as Error).message });
        }
    };

    let pods: WatchedCollection<V1Pod>;
    let jobs: WatchedCollection<V1Job> | undefined;
    const watches = () => ({ pods: pods.health, jobs: jobs?.health });

    const save = () => {
        if (stateFile) {
            const snapshot: SavedState = {
                version: 2, sureUntil: { pods: pods.sureUntil, jobs: jobs?.sureUntil }, watch: state, backups: backupState, outage, pending: queue,
            };
            writeAtomically(stateFile, JSON.stringify(snapshot));
        }
    };

    /** Sends what is queued, one mail after another in the order decided; a mail leaves the queue (and the saved state) once done. */
    const pump = () => {
        if (sending !== undefined || queue.length === 0) {
            return;
        }
        sending = (async () => {
            while (queue.length > 0) {
                await send(queue[0]);
                queue.shift();
                save();
            }
        })().finally(() => {
            sending = undefined;
        });
    };
    const enqueue = (...mails: Mail[]) => {
        queue.push(...mails);
        save();
        pump();
    };

    let lastProbes: { ready: boolean; live: boolean } | undefined;
    const writeProbes = (at: number) => {
        const verdict = watcherProbes(watches(), at, bounds);
        if (lastProbes?.ready !== verdict.ready || lastProbes?.live !== verdict.live) {
            const each = Object.fromEntries(Object.entries(watches()).filter(([, health]) => health !== undefined)
                .map(([watched, health]) => [watched, { failuresInARow: health?.failuresInARow, problem: health?.lastProblem }]));
            log("health", { ready: verdict.ready, live: verdict.live, ...each });
        }
        lastProbes = verdict;
        if (watch.healthDir) {
            // A line with its newline: the shell's read fails on a last line without one.
            const until = `${Math.ceil((at + PROBE_VALIDITY_MS) / 1000)}\n`;
            writeAtomically(path.join(watch.healthDir, "ready"), verdict.ready ? until : "0\n");
            writeAtomically(path.join(watch.healthDir, "live"), verdict.live ? until : "0\n");
        }
    };

    const checkHealth = (at: number) => {
        writeProbes(at);
        if (stopping) {
            // A mail decided now could not be sent: leave the outage to the next container.
            return;
        }
        const result = healthDecision(watches(), outage, at, bounds);
        const changed = result.outage !== outage;
        outage = result.outage;
        if (result.decision) {
            enqueue({ about: "watcher", decision: result.decision });
        } else if (changed) {
            save();
        }
    };

    pods = new WatchedCollection<V1Pod>({
        watched: "pods", kubeConfig, namespace: watch.namespace, path: `/api/v1/namespaces/${watch.namespace}/pods`, selector: watch.selector,
        list: () => api.listNamespacedPod({ namespace: watch.namespace, labelSelector: watch.selector }),
        retryMs: watch.retryMs, startedAt, sureUntil: sureUntil("pods"), wakeWhileFailing: true, healthChanged: checkHealth, log,
        observe: ({ at, objects, deleted, unseenSince }) => {
            const result = decide(state, {
                at, pods: objects.map((pod) => podView(pod, watch.container)), deleted: deleted.map((pod) => podView(pod, watch.container)), unseenSince,
            }, watch.thresholdMs);
            state = result.state;
            for (const reason of result.counted) {
                log("failure-counted", { reason, incidentSince: state.incident && new Date(state.incident.openedAt).toISOString() });
            }
            enqueue(...result.decisions.map((decision): Mail => ({ about: "pod", decision })));
            return nextCheckAt(state, watch.thresholdMs);
        },
    });

    if (watch.backups) {
        const { selector, intervalMs } = watch.backups;
        const batch = kubeConfig.makeApiClient(BatchV1Api);
        jobs = new WatchedCollection<V1Job>({
            watched: "jobs", kubeConfig, namespace: watch.namespace, path: `/apis/batch/v1/namespaces/${watch.namespace}/jobs`, selector,
            list: () => batch.listNamespacedJob({ namespace: watch.namespace, labelSelector: selector }),
            retryMs: watch.retryMs, startedAt, sureUntil: sureUntil("jobs"), wakeWhileFailing: false, healthChanged: checkHealth, log,
            observe: ({ at, objects, unseenSince }) => {
                const views = objects.map(jobView);
                // The container log tells each backup Job's start and end as the watcher saw them.
                for (const job of views.filter((view) => backupState.jobs[view.uid] !== view.outcome)) {
                    log("backup-job", { job: job.name, outcome: job.outcome, finishedAt: job.finishedAt && new Date(job.finishedAt).toISOString() });
                }
                const result = decideBackups(backupState, { at, jobs: views, unseenSince }, intervalMs);
                backupState = result.state;
                for (const reason of result.counted) {
                    log("backup-failure-counted", { reason, incidentSince: backupState.incident && new Date(backupState.incident.openedAt).toISOString() });
                }
                enqueue(...result.decisions.map((decision): Mail => ({ about: "backups", decision })));
                return nextBackupCheckAt(backupState, intervalMs);
            },
        });
    }

    const tick = setInterval(() => checkHealth(Date.now()), Math.min(HEALTH_TICK_MS, watch.blindMs / 4));

    process.once("SIGTERM", () => {
        // Stop taking events; finish (or hand over) what is queued within the budget the grace period leaves.
        stopping = true;
        stopBy = Date.now() + stopBudgetMs(watch.graceSeconds);
        clearInterval(tick);
        pods.stop();
        jobs?.stop();
        log("stopping", { pending: queue.length, budgetMs: stopBy - Date.now() });
        const budget = new AbortController();
        void Promise.race([sending ?? Promise.resolve(), sleep(Math.max(0, stopBy - Date.now()), undefined, { signal: budget.signal }).catch(() => undefined)]).then(() => {
            budget.abort();
            save();
            log("stopped", { handedOver: queue.length });
            process.exit(0);
        });
    });

    writeProbes(startedAt);
    pump();
    await Promise.all([pods.start(), jobs?.start()]);
}

main().catch((error: unknown) => {
    console.error(JSON.stringify({ watcher: "failed", error: error instanceof Error ? error.message : String(error) }));
    process.exit(error instanceof SettingsError ? 2 : 1);
});

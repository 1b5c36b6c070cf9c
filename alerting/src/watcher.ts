/**
 * Entry point of the pod watcher: informers (list + watch, resumed after disconnects) on the
 * PostgreSQL pods of one namespace and, when backups are on, on its backup Jobs, whose snapshots go
 * through `decide` and `decideBackups`; their decisions go out through the same mailer as the preStop
 * hook. It tells the probes whether it really watches (files in HEALTH_DIR), mails when it cannot
 * watch, keeps its state there so that a restarted container carries on, and on SIGTERM finishes its
 * mails within its budget. Every outcome is one JSON line on stdout. The parts are in watch/.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { deliverAlert } from "./deliver";
import { readMailerSettings, readPodFacts, SettingsError } from "./settings";
import { decideBackups, initialBackupState, nextBackupCheckAt } from "./watch/backups";
import { logReadMs, lookbackMs, stopBudgetMs } from "./watch/budget";
import { decide, Decision, initialState, nextCheckAt } from "./watch/decide";
import { HealthBounds, healthDecision, Watched, watcherProbes } from "./watch/health";
import { WatchedCollection } from "./watch/informer";
import { jobView } from "./watch/jobView";
import { alertFor, Mail } from "./watch/mail";
import { MailQueue } from "./watch/mailQueue";
import { PodView, podView } from "./watch/podView";
import { readSavedState, writeProbeFiles, writeSavedState } from "./watch/savedState";
import { readWatchSettings } from "./watch/settings";

const HEALTH_TICK_MS = 5000;
/** The client reopens a quiet watch every 30 s; three times that without a sign is a dead watch. */
const SILENT_MS = 90_000;
const RECONNECT_MS = 5000;

function log(event: string, fields: Record<string, unknown>): void {
    console.log(JSON.stringify({ watcher: event, time: new Date().toISOString(), ...fields }));
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

async function main(): Promise<void> {
    const startedAt = Date.now();
    const mailer = readMailerSettings(process.env);
    const watch = readWatchSettings(process.env);
    const bounds: HealthBounds = { reconnectMs: RECONNECT_MS, silentMs: SILENT_MS, blindMs: watch.blindMs };
    const mailContext = { facts: { ...readPodFacts(process.env), namespace: watch.namespace }, subjectPrefix: mailer.subjectPrefix, backupSelector: watch.backups?.selector };

    const saved = watch.healthDir ? readSavedState(watch.healthDir, (error) => log("state-unreadable", { error: error.message })) : undefined;
    let state = saved?.watch ?? initialState();
    let backupState = saved?.backups ?? initialBackupState();
    let outage = saved?.outage;
    // A new watcher cannot know what its predecessor saw, so it believes the statuses as far back as one could have missed.
    const sureUntil = (watched: Watched) => saved?.sureUntil[watched] ?? startedAt - lookbackMs(watch.graceSeconds);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const api = kubeConfig.makeApiClient(CoreV1Api);

    let stopping = false;
    let stopBy: number | undefined;
    let pods: WatchedCollection<V1Pod>;
    let jobs: WatchedCollection<V1Job> | undefined;
    const watches = () => ({ pods: pods.health, jobs: jobs?.health });

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
        const logLines = mail.about === "pod" && mail.decision.pod && mail.decision.kind === "down" ? await podLog(mail.decision, mail.decision.pod) : undefined;
        try {
            const outcome = await deliverAlert(alertFor(mail, mailContext, logLines), mailer);
            log("alert", { kind: decision.kind, reason: decision.reason, outcome: outcome.mode });
        } catch (error) {
            log("alert-failed", { kind: decision.kind, reason: decision.reason, error: (error as Error).message });
        }
    };
    const save = () => {
        if (watch.healthDir) {
            writeSavedState(watch.healthDir, {
                version: 2, sureUntil: { pods: pods.sureUntil, jobs: jobs?.sureUntil }, watch: state, backups: backupState, outage, pending: mails.pending,
            });
        }
    };
    const mails = new MailQueue(saved?.pending ?? [], send, save);
    if (saved) {
        log("resumed", { sureUntil: new Date(sureUntil("pods")).toISOString(), pending: mails.pending.length, outage: saved.outage?.reason });
    }

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
            writeProbeFiles(watch.healthDir, verdict, at);
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
            mails.enqueue({ about: "watcher", decision: result.decision });
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
            mails.enqueue(...result.decisions.map((decision): Mail => ({ about: "pod", decision })));
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
                mails.enqueue(...result.decisions.map((decision): Mail => ({ about: "backups", decision })));
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
        log("stopping", { pending: mails.pending.length, budgetMs: stopBy - Date.now() });
        const budget = new AbortController();
        void Promise.race([mails.idle, sleep(Math.max(0, stopBy - Date.now()), undefined, { signal: budget.signal }).catch(() => undefined)]).then(() => {
            budget.abort();
            save();
            log("stopped", { handedOver: mails.pending.length });
            process.exit(0);
        });
    });

    writeProbes(startedAt);
    mails.pump();
    await Promise.all([pods.start(), jobs?.start()]);
}

main().catch((error: unknown) => {
    console.error(JSON.stringify({ watcher: "failed", error: error instanceof Error ? error.message : String(error) }));
    process.exit(error instanceof SettingsError ? 2 : 1);
});

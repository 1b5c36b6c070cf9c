/**
 * Entry point of the pod watcher: an informer (list + watch, resumed after disconnects) on the
 * PostgreSQL pods of one namespace, whose snapshots go through `decide`; its decisions go out
 * through the same mailer as the preStop hook. It tells the probes whether it really watches
 * (files in HEALTH_DIR), mails when it cannot watch, keeps its state there so that a restarted
 * container carries on, and on SIGTERM finishes its mails within its budget. Every outcome is one
 * JSON line on stdout.
 */
import { CoreV1Api, KubeConfig, ListWatch, V1Pod, Watch } from "@kubernetes/client-node";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { deliverAlert } from "./deliver";
import { buildAlert } from "./message";
import { readMailerSettings, readPodFacts, SettingsError } from "./settings";
import { logReadMs, lookbackMs, stopBudgetMs, watcherGraceSeconds } from "./watch/budget";
import { decide, Decision, initialState, nextCheckAt, WatchState } from "./watch/decide";
import { afterSignal, classifyProblem, HealthBounds, HealthDecision, healthDecision, HealthSignal, initialHealth, Outage, probes } from "./watch/health";
import { PodView, podView } from "./watch/podView";

/** The retry backoff doubles up to this many times its first delay (1 s to 30 s). */
const MAX_RETRY_FACTOR = 30;
const HEALTH_TICK_MS = 5000;
/** A probe file holds the time until which it is true, so a stuck event loop lets it lapse. */
const PROBE_VALIDITY_MS = 15_000;
/** See README, "The watcher's own health": longer than routine control-plane blips, short against the pod alerts' threshold. */
const DEFAULT_BLIND_SECONDS = 120;
/** The client reopens a quiet watch every 30 s; three times that without a sign is a dead watch. */
const SILENT_MS = 90_000;
const RECONNECT_MS = 5000;
const STATE_FILE = "state.json";

type Mail =
    | { readonly about: "pod"; readonly decision: Decision }
    | { readonly about: "watcher"; readonly decision: HealthDecision };

/** What a restarted container carries on from, in the emptyDir (never a secret: pod facts and times). */
interface SavedState {
    readonly version: 1;
    /** Until when the previous process knew its cache matched the API. */
    readonly sureUntil: number;
    readonly watch: WatchState;
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
    const problems: string[] = [];
    const seconds = (name: string, fallback: number) => {
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

/** client-node's Watch, asking for bookmarks and reporting when a watch opens, hears something and ends. */
class ReportingWatch extends Watch {
    constructor(config: KubeConfig, private readonly report: (signal: HealthSignal) => void) {
        super(config);
    }

    override async watch(path: string, query: Record<string, string | number | boolean | undefined>,
        callback: (phase: string, object: any, raw?: any) => void, done: (error: any) => void): Promise<AbortController> {
        let ended = false;
        const controller = await super.watch(path, { ...query, allowWatchBookmarks: true }, (phase, object, raw) => {
            callback(phase, object, raw);
            // After the informer's callback, so an observation it schedules still sees the time before this event.
            if (phase !== "ERROR") {
                this.report({ type: "event" });
            }
        }, (error) => {
            ended = true;
            this.report({ type: "watch-ended" });
            done(error);
        });
        if (!ended) {
            this.report({ type: "watch-opened" });
        }
        return controller;
    }
}

function readSaved(file: string | undefined): SavedState | undefined {
    if (file === undefined || !fs.existsSync(file)) {
        return undefined;
    }
    try {
        const saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedState;
        return saved.version === 1 ? saved : undefined;
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
    let health = initialHealth(startedAt, saved?.outage);
    const queue: Mail[] = [...(saved?.pending ?? [])];
    // A new watcher cannot know what its predecessor saw, so it believes the statuses as far back as one could have missed.
    let sureUntil = saved?.sureUntil ?? startedAt - lookbackMs(watch.graceSeconds);
    if (saved) {
        log("resumed", { sureUntil: new Date(sureUntil).toISOString(), pending: queue.length, outage: saved.outage?.reason });
    }

    const save = () => {
        if (stateFile) {
            const snapshot: SavedState = { version: 1, sureUntil, watch: state, outage: health.outage, pending: queue };
            writeAtomically(stateFile, JSON.stringify(snapshot));
        }
    };

    let lastProbes: { ready: boolean; live: boolean } | undefined;
    const writeProbes = (at: number) => {
        const verdict = probes(health, at, bounds);
        if (lastProbes?.ready !== verdict.ready || lastProbes?.live !== verdict.live) {
            log("health", { ready: verdict.ready, live: verdict.live, failuresInARow: health.failuresInARow, problem: health.lastProblem });
        }
        lastProbes = verdict;
        if (watch.healthDir) {
            // A line with its newline: the shell's read fails on a last line without one.
            const until = `${Math.ceil((at + PROBE_VALIDITY_MS) / 1000)}\n`;
            writeAtomically(path.join(watch.healthDir, "ready"), verdict.ready ? until : "0\n");
            writeAtomically(path.join(watch.healthDir, "live"), verdict.live ? until : "0\n");
        }
    };

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const api = kubeConfig.makeApiClient(CoreV1Api);

    let stopping = false;
    let stopBy: number | undefined;
    let sending: Promise<void> | undefined;
    let wakeUp: NodeJS.Timeout | undefined;
    let scheduled: { unseenSince: number } | undefined;
    let retryMs = watch.retryMs;
    let retry: NodeJS.Timeout | undefined;

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
        const message = mail.about === "pod"
            ? buildAlert({
                ...event, exitCode: mail.decision.exitCode, restarts: mail.decision.restarts,
                logTail: mail.decision.pod && mail.decision.kind === "down" ? await podLog(mail.decision, mail.decision.pod) : undefined,
            }, {
                ...baseFacts, namespace: watch.namespace,
                pod: mail.decision.pod?.name ?? "none", node: mail.decision.pod?.node ?? "none", podIp: mail.decision.pod?.ip ?? "none",
            }, mailer.subjectPrefix)
            // About the watcher itself: its own pod's facts.
            : buildAlert(event, { ...baseFacts, namespace: watch.namespace }, mailer.subjectPrefix);
        try {
            const outcome = await deliverAlert(message, mailer);
            log("alert", { kind: decision.kind, reason: decision.reason, outcome: outcome.mode });
        } catch (error) {
            log("alert-failed", { kind: decision.kind, reason: decision.reason, error: (error as Error).message });
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
    const enqueue = (mail: Mail) => {
        queue.push(mail);
        save();
        pump();
    };

    const signal = (news: HealthSignal) => {
        const at = Date.now();
        health = afterSignal(health, news, at);
        if (news.type === "listed" || news.type === "watch-opened") {
            retryMs = watch.retryMs;
        }
        // The cache matches the API now, unless an observation of changes is still to come.
        if ((news.type === "watch-opened" || news.type === "event") && scheduled === undefined) {
            sureUntil = at;
        }
        checkHealth(at);
    };
    const checkHealth = (at: number) => {
        writeProbes(at);
        if (stopping) {
            // A mail decided now could not be sent: leave the outage to the next container.
            return;
        }
        const result = healthDecision(health, at, bounds);
        const changed = result.state.outage !== health.outage;
        health = result.state;
        if (result.decision) {
            enqueue({ about: "watcher", decision: result.decision });
        } else if (changed) {
            save();
        }
    };

    const informer = new ListWatch<V1Pod>(`/api/v1/namespaces/${watch.namespace}/pods`, new ReportingWatch(kubeConfig, signal), async () => {
        const list = await api.listNamespacedPod({ namespace: watch.namespace, labelSelector: watch.selector });
        signal({ type: "listed" });
        // One observation after every list, even one that changed nothing or holds no pod.
        scheduleObservation();
        return list;
    }, false, watch.selector, undefined, { delayFn: (ms) => sleep(ms * watch.retryMs / 1000) });

    const deleted: V1Pod[] = [];
    // The callbacks of one relist (deletions first, then additions) arrive in one go: one observation sees them together.
    function scheduleObservation() {
        if (!stopping && scheduled === undefined) {
            scheduled = { unseenSince: sureUntil };
            setImmediate(observe);
        }
    }
    function observe() {
        const unseenSince = scheduled?.unseenSince ?? sureUntil;
        scheduled = undefined;
        if (stopping) {
            return;
        }
        const at = Date.now();
        const pods = informer.list(watch.namespace).map((pod) => podView(pod, watch.container));
        const gone = deleted.splice(0).map((pod) => podView(pod, watch.container));
        const result = decide(state, { at, pods, deleted: gone, unseenSince }, watch.thresholdMs);
        state = result.state;
        if (health.watching) {
            sureUntil = at;
        }
        for (const reason of result.counted) {
            log("failure-counted", { reason, incidentSince: state.incident && new Date(state.incident.openedAt).toISOString() });
        }
        queue.push(...result.decisions.map((decision): Mail => ({ about: "pod", decision })));
        save();
        pump();
        clearTimeout(wakeUp);
        const next = nextCheckAt(state, watch.thresholdMs);
        wakeUp = next === undefined ? undefined : setTimeout(scheduleObservation, Math.max(0, next - at));
    }

    informer.on("add", scheduleObservation);
    informer.on("update", scheduleObservation);
    informer.on("delete", (pod) => {
        deleted.push(pod);
        scheduleObservation();
    });
    informer.on("connect", () => log("connecting", { namespace: watch.namespace, selector: watch.selector }));
    // The informer resumes by itself after a dropped watch or a 410 Gone; other errors stop it, so restart it with backoff.
    informer.on("error", (error: unknown) => {
        if (stopping) {
            // The abort of our own stop.
            return;
        }
        const problem = classifyProblem(error);
        signal({ type: "failed", problem });
        log("watch-error", { ...problem, failuresInARow: health.failuresInARow, retryInMs: retryMs });
        retry = setTimeout(() => void informer.start(), retryMs);
        retryMs = Math.min(retryMs * 2, watch.retryMs * MAX_RETRY_FACTOR);
    });
    const tick = setInterval(() => checkHealth(Date.now()), Math.min(HEALTH_TICK_MS, watch.blindMs / 4));

    process.once("SIGTERM", () => {
        // Stop taking events; finish (or hand over) what is queued within the budget the grace period leaves.
        stopping = true;
        stopBy = Date.now() + stopBudgetMs(watch.graceSeconds);
        clearTimeout(wakeUp);
        clearTimeout(retry);
        clearInterval(tick);
        void informer.stop();
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
    await informer.start();
}

main().catch((error: unknown) => {
    console.error(JSON.stringify({ watcher: "failed", error: error instanceof Error ? error.message : String(error) }));
    process.exit(error instanceof SettingsError ? 2 : 1);
});

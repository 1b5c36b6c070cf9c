/**
 * Entry point of the pod watcher: an informer (list + watch, resumed after disconnects) on the
 * PostgreSQL pods of one namespace, whose snapshots go through `decide`; its decisions go out
 * through the same mailer as the preStop hook. Every outcome is one JSON line on stdout.
 */
import { CoreV1Api, KubeConfig, makeInformer, V1Pod } from "@kubernetes/client-node";
import { deliverAlert } from "./deliver";
import { buildAlert } from "./message";
import { readMailerSettings, readPodFacts, SettingsError } from "./settings";
import { decide, Decision, initialState, nextCheckAt } from "./watch/decide";
import { podView } from "./watch/podView";

const LOG_TIMEOUT_MS = 2000;
const MAX_RESTART_DELAY_MS = 30_000;

function log(event: string, fields: Record<string, unknown>): void {
    console.log(JSON.stringify({ watcher: event, time: new Date().toISOString(), ...fields }));
}

function readWatchSettings(env: NodeJS.ProcessEnv) {
    const namespace = env.WATCH_NAMESPACE?.trim();
    const selector = env.WATCH_SELECTOR?.trim();
    const thresholdSeconds = Number(env.NOT_READY_SECONDS ?? 60);
    const problems: string[] = [];
    if (!namespace) {
        problems.push("WATCH_NAMESPACE is empty; expected the namespace of the PostgreSQL pods");
    }
    if (!selector) {
        problems.push("WATCH_SELECTOR is empty; expected a label selector such as app.kubernetes.io/name=postgresql");
    }
    if (!Number.isFinite(thresholdSeconds) || thresholdSeconds <= 0) {
        problems.push(`NOT_READY_SECONDS ${JSON.stringify(env.NOT_READY_SECONDS)} is not a positive number of seconds`);
    }
    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return {
        namespace: namespace as string,
        selector: selector as string,
        thresholdMs: thresholdSeconds * 1000,
        container: env.POSTGRES_CONTAINER?.trim() || "postgres",
        logLines: Number(env.LOG_LINES ?? 20),
    };
}

/** The last lines of the PostgreSQL container's log, or undefined when they cannot be read in time. */
async function logTail(api: CoreV1Api, namespace: string, pod: string, container: string, lines: number, previous: boolean): Promise<string[] | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), LOG_TIMEOUT_MS); });
    try {
        const text = await Promise.race([api.readNamespacedPodLog({ name: pod, namespace, container, tailLines: lines, previous }), timeout]);
        return typeof text === "string" ? text.split("\n").filter((line) => line !== "") : undefined;
    } catch {
        return undefined;
    } finally {
        clearTimeout(timer);
    }
}

async function main(): Promise<void> {
    const mailer = readMailerSettings(process.env);
    const watch = readWatchSettings(process.env);
    const baseFacts = readPodFacts(process.env);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const api = kubeConfig.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kubeConfig, `/api/v1/namespaces/${watch.namespace}/pods`,
        () => api.listNamespacedPod({ namespace: watch.namespace, labelSelector: watch.selector }), watch.selector);

    let state = initialState();
    let wakeUp: NodeJS.Timeout | undefined;
    // Mails go out one after another, in the order decided.
    let sending: Promise<void> = Promise.resolve();

    const send = async (decision: Decision) => {
        const pod = decision.pod;
        const lines = pod && decision.kind === "down"
            ? await logTail(api, watch.namespace, pod.name, watch.container, watch.logLines, decision.previousLog)
            : undefined;
        const message = buildAlert({
            kind: decision.kind, reason: decision.reason, source: "pod watcher", at: new Date(decision.since),
            exitCode: decision.exitCode, restarts: decision.restarts, notes: decision.notes, logTail: lines,
        }, {
            ...baseFacts,
            namespace: watch.namespace,
            pod: pod?.name ?? "none",
            node: pod?.node ?? "none",
            podIp: pod?.ip ?? "none",
        }, mailer.subjectPrefix);
        try {
            const outcome = await deliverAlert(message, mailer);
            log("alert", { kind: decision.kind, reason: decision.reason, outcome: outcome.mode });
        } catch (error) {
            log("alert-failed", { kind: decision.kind, reason: decision.reason, error: (error as Error).message });
        }
    };

    let restartDelayMs = 1000;
    const observe = (deleted?: V1Pod) => {
        const pods = informer.list(watch.namespace).map((pod) => podView(pod, watch.container));
        const result = decide(state, { at: Date.now(), pods, deleted: deleted && [podView(deleted, watch.container)] }, watch.thresholdMs);
        state = result.state;
        for (const reason of result.counted) {
            log("failure-counted", { reason, incidentSince: state.incident && new Date(state.incident.openedAt).toISOString() });
        }
        for (const decision of result.decisions) {
            sending = sending.then(() => send(decision));
        }
        clearTimeout(wakeUp);
        const next = nextCheckAt(state, watch.thresholdMs);
        wakeUp = next === undefined ? undefined : setTimeout(() => observe(), Math.max(0, next - Date.now()));
    };

    const onEvent = (deleted?: V1Pod) => {
        restartDelayMs = 1000;
        observe(deleted);
    };
    informer.on("add", () => onEvent());
    informer.on("update", () => onEvent());
    informer.on("delete", (pod) => onEvent(pod));
    informer.on("connect", () => log("connected", { namespace: watch.namespace, selector: watch.selector }));
    // The informer resumes by itself after a dropped watch or a 410 Gone; other errors stop it, so restart it with backoff.
    informer.on("error", (error: unknown) => {
        log("watch-error", { error: (error as Error)?.message ?? String(error), retryInMs: restartDelayMs });
        setTimeout(() => {
            informer.start().catch((startError: Error) => log("watch-error", { error: startError.message }));
        }, restartDelayMs);
        restartDelayMs = Math.min(restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    });
    process.on("SIGTERM", () => {
        void informer.stop();
        process.exit(0);
    });
    await informer.start();
}

main().catch((error: unknown) => {
    console.error(JSON.stringify({ watcher: "failed", error: error instanceof Error ? error.message : String(error) }));
    process.exit(error instanceof SettingsError ? 2 : 1);
});

/**
 * The watcher's own health, as pure functions over what each of its informers (the PostgreSQL pods,
 * and the backup Jobs when backups are on) reports: whether a watch is open, when the API last
 * proved it answers (a list, a watch opened, an event or a bookmark), and the failures in a row. It
 * feeds the readiness and liveness probes and decides the two mails about the watcher itself, one
 * outage for all its watches: "alerts are not working" once one of them has been blind for the
 * bound, and "work again" once all of them watch again.
 */
import { iso } from "./decide";

export type ProblemKind = "authentication" | "authorization" | "tls" | "network" | "server" | "other";

export interface ApiProblem {
    readonly kind: ProblemKind;
    /** Short and free of secrets: a status code, an error code, the API's own refusal message. */
    readonly detail: string;
}

/** What the watcher watches: the PostgreSQL pods, and the backup Jobs when backups are on. */
export type Watched = "pods" | "jobs";

/** The "alerts are not working" incident; plain data, so a restarted container carries it on. */
export interface Outage {
    readonly since: number;
    readonly reason: string;
    readonly mailed: boolean;
    /** The watches it named: those not ready when it was mailed. */
    readonly watches: readonly Watched[];
}

/** The health of one watch. */
export interface HealthState {
    /** A watch stream is open. */
    readonly watching: boolean;
    /** A watch has been open at least once in this process. */
    readonly everWatched: boolean;
    /** Since when no watch has been open (process start, or when the last one ended). */
    readonly blindSince: number;
    /** Last proof that the API answers: a list, a watch opened, an event or a bookmark. */
    readonly lastContactAt?: number;
    readonly failuresInARow: number;
    readonly lastProblem?: ApiProblem;
}

/** Every watch of the watcher. */
export interface WatchHealth {
    readonly pods: HealthState;
    readonly jobs?: HealthState;
}

export type HealthSignal =
    | { readonly type: "listed" }
    | { readonly type: "watch-opened" }
    /** An event or a bookmark on the open watch. */
    | { readonly type: "event" }
    | { readonly type: "watch-ended" }
    | { readonly type: "failed"; readonly problem: ApiProblem };

export interface HealthBounds {
    /** A reconnect this short keeps the watcher ready: the client reopens a quiet watch every 30 s. */
    readonly reconnectMs: number;
    /** An open watch with no event, bookmark or reopen for this long is dead. */
    readonly silentMs: number;
    /** Blind this long: mail "not working", and fail liveness so that Kubernetes restarts the container. */
    readonly blindMs: number;
}

export interface HealthDecision {
    /** About the pod alerts (and maybe the backup alerts too), or about the backup alerts alone. */
    readonly kind: "not-working" | "working-again" | "backup-alerts-not-working" | "backup-alerts-working-again";
    readonly reason: string;
    readonly since: number;
    readonly notes: readonly string[];
}

export function initialHealth(at: number): HealthState {
    return { watching: false, everWatched: false, blindSince: at, failuresInARow: 0 };
}

export function afterSignal(state: HealthState, signal: HealthSignal, at: number): HealthState {
    switch (signal.type) {
        case "listed":
            return { ...state, lastContactAt: at, failuresInARow: 0 };
        case "watch-opened":
            return { ...state, watching: true, everWatched: true, lastContactAt: at, failuresInARow: 0 };
        case "event":
            return { ...state, lastContactAt: at };
        case "watch-ended":
            return state.watching ? { ...state, watching: false, blindSince: at } : state;
        case "failed":
            return { ...state, watching: false, blindSince: state.watching ? at : state.blindSince, failuresInARow: state.failuresInARow + 1, lastProblem: signal.problem };
    }
}

/** Since when the watcher has not been watching, or undefined while it is. */
export function blindFrom(state: HealthState, at: number, bounds: HealthBounds): number | undefined {
    if (!state.watching) {
        return state.blindSince;
    }
    const contact = state.lastContactAt ?? state.blindSince;
    return at - contact > bounds.silentMs ? contact : undefined;
}

export interface Probes {
    readonly ready: boolean;
    readonly live: boolean;
}

export function probes(state: HealthState, at: number, bounds: HealthBounds): Probes {
    const blind = blindFrom(state, at, bounds);
    return {
        // Ready: watching, or in a reconnect that has not failed yet.
        ready: blind === undefined || (state.everWatched && state.failuresInARow === 0 && at - blind < bounds.reconnectMs),
        // A fresh process may fix what this one cannot: it re-reads the CA bundle and the token, opens new connections.
        live: blind === undefined || at - blind < bounds.blindMs,
    };
}

/**
 * The watcher's probes: ready while every watch is; live while the pod watch is. A blind Jobs watch
 * does not restart the container: that would interrupt the pod alerts, and what a restart fixes (a
 * rotated CA bundle or token, a wedged client) breaks the pod watch too, which does restart it.
 */
export function watcherProbes(watches: WatchHealth, at: number, bounds: HealthBounds): Probes {
    const pods = probes(watches.pods, at, bounds);
    return { ready: pods.ready && (watches.jobs === undefined || probes(watches.jobs, at, bounds).ready), live: pods.live };
}

/** What each watch covers, for the mails about the watcher itself. */
const COVERS: Record<Watched, { readonly objects: string; readonly unmailed: string }> = {
    pods: { objects: "the PostgreSQL pods", unmailed: "crashes, OOM kills, evictions and lost pods are not mailed; the preStop mail of a graceful stop still is" },
    jobs: { objects: "the backup Jobs", unmailed: "failed backups and backups that stopped are not mailed" },
};

function describe(problem: ApiProblem | undefined, silent: boolean): string {
    if (silent) {
        return "the watch stays open but nothing arrives (no event, bookmark or reconnect)";
    }
    switch (problem?.kind) {
        case "authentication":
            return `the API server does not accept the watcher's token (${problem.detail})`;
        case "authorization":
            return `the watcher's Role does not allow it (${problem.detail})`;
        case "tls":
            return `TLS with the API server fails (${problem.detail})`;
        case "network":
            return `the API server cannot be reached (${problem.detail})`;
        case "server":
            return `the API server answers with errors (${problem.detail})`;
        case "other":
            return `the watch fails (${problem.detail})`;
        case undefined:
            return "no watch could be opened yet";
    }
}

/**
 * The mail about the watcher itself that is due now, if any: at most one per outage and one per
 * recovery, whichever and however many of its watches are blind. It names the watches that are not
 * ready then. One that fails later joins the outage: no mail of its own, and the "work again" mail
 * waits for it too.
 */
export function healthDecision(watches: WatchHealth, outage: Outage | undefined, at: number, bounds: HealthBounds): { outage?: Outage; decision?: HealthDecision } {
    const all = (Object.entries(watches) as [Watched, HealthState | undefined][])
        .filter((entry): entry is [Watched, HealthState] => entry[1] !== undefined);
    const blind = all.map(([watched, state]) => ({ watched, state, since: blindFrom(state, at, bounds) }))
        .filter((watch): watch is { watched: Watched; state: HealthState; since: number } => watch.since !== undefined);
    if (blind.length > 0) {
        const first = Math.min(...blind.map((watch) => watch.since));
        if (at - first < bounds.blindMs || outage?.mailed) {
            return { outage };
        }
        const named = blind.filter((watch) => at - watch.since >= bounds.blindMs || !probes(watch.state, at, bounds).ready);
        // The subject is about the pod alerts whenever they are off.
        const main = named.find((watch) => watch.watched === "pods") ?? named[0];
        const reason = describe(main.state.lastProblem, main.state.watching);
        const pods = main.watched === "pods";
        return {
            outage: { since: first, reason, mailed: true, watches: named.map((watch) => watch.watched) },
            decision: {
                kind: pods ? "not-working" : "backup-alerts-not-working", reason, since: first, notes: [
                    ...named.flatMap((watch) => [
                        `The pod watcher has not been able to watch ${COVERS[watch.watched].objects} since ${iso(watch.since)} (${watch.state.failuresInARow} failure(s) in a row).`,
                        `Until it can, ${COVERS[watch.watched].unmailed}.`,
                    ]),
                    pods ? "Kubernetes restarts the watcher while this lasts; one more mail follows when it watches again."
                        : "Its pod alerts still work; one more mail follows when it watches again.",
                ],
            },
        };
    }
    if (!outage?.mailed) {
        return {};
    }
    const back = Math.max(...all.map(([, state]) => state.lastContactAt ?? at));
    const pods = outage.watches.includes("pods");
    return {
        decision: {
            kind: pods ? "working-again" : "backup-alerts-working-again",
            reason: pods ? "the pod watcher watches again" : "the pod watcher watches the backup Jobs again",
            since: back,
            notes: [
                `Blind from ${iso(outage.since)} to ${iso(back)} (${outage.reason}).`,
                `What the statuses of ${outage.watches.map((watched) => COVERS[watched].objects).join(" and ")} show happened meanwhile is reported in separate mails.`,
            ],
        },
    };
}

const TLS_CODE = /CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;
const NETWORK_CODE = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/** The API's own refusal message (a Kubernetes Status), cut short. */
function statusMessage(body: unknown): string | undefined {
    let parsed = body;
    if (typeof body === "string") {
        try {
            parsed = JSON.parse(body);
        } catch {
            return undefined;
        }
    }
    const message = (parsed as { message?: unknown } | undefined)?.message;
    return typeof message === "string" ? message.slice(0, 200) : undefined;
}

/**
 * What an error from the client (a list's ApiException, a watch's status error, fetch's network or
 * TLS error in `cause`) says about the watch. Only codes and the API's Status message are kept:
 * client messages can echo request details.
 */
export function classifyProblem(error: unknown): ApiProblem {
    const failure = error as { code?: unknown; statusCode?: unknown; body?: unknown; cause?: { code?: unknown }; name?: unknown } | undefined;
    const status = typeof failure?.code === "number" ? failure.code : typeof failure?.statusCode === "number" ? failure.statusCode : undefined;
    if (status !== undefined) {
        const message = statusMessage(failure?.body);
        const detail = `HTTP ${status}${message ? `: ${message}` : ""}`;
        const kind: ProblemKind = status === 401 ? "authentication" : status === 403 ? "authorization" : status >= 500 ? "server" : "other";
        return { kind, detail };
    }
    const code = [failure?.cause?.code, failure?.code].find((value): value is string => typeof value === "string");
    if (code !== undefined && TLS_CODE.test(code)) {
        return { kind: "tls", detail: code };
    }
    if (code !== undefined && NETWORK_CODE.test(code)) {
        return { kind: "network", detail: code };
    }
    return { kind: "other", detail: typeof failure?.name === "string" ? failure.name : "unknown error" };
}

/**
 * The watcher's own health, as pure functions over what its informer reports: whether a watch is
 * open, when the API last proved it answers (a list, a watch opened, an event or a bookmark), and
 * the failures in a row. It feeds the readiness and liveness probes and decides the two mails about
 * the watcher itself: "pod alerts are not working" once it has been blind for the bound, and
 * "work again" once it watches again.
 */

export type ProblemKind = "authentication" | "authorization" | "tls" | "network" | "server" | "other";

export interface ApiProblem {
    readonly kind: ProblemKind;
    /** Short and free of secrets: a status code, an error code, the API's own refusal message. */
    readonly detail: string;
}

/** The "pod alerts are not working" incident; plain data, so a restarted container carries it on. */
export interface Outage {
    readonly since: number;
    readonly reason: string;
    readonly mailed: boolean;
}

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
    readonly outage?: Outage;
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
    readonly kind: "not-working" | "working-again";
    readonly reason: string;
    readonly since: number;
    readonly notes: readonly string[];
}

export function initialHealth(at: number, outage?: Outage): HealthState {
    return { watching: false, everWatched: false, blindSince: at, failuresInARow: 0, outage };
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

const iso = (ms: number) => new Date(ms).toISOString();

/** The mail about the watcher itself that is due now, if any: at most one per outage and one per recovery. */
export function healthDecision(state: HealthState, at: number, bounds: HealthBounds): { state: HealthState; decision?: HealthDecision } {
    const blind = blindFrom(state, at, bounds);
    if (blind !== undefined) {
        if (at - blind < bounds.blindMs || state.outage?.mailed) {
            return { state };
        }
        const since = state.outage?.since ?? blind;
        const reason = describe(state.lastProblem, state.watching);
        return {
            state: { ...state, outage: { since, reason, mailed: true } },
            decision: {
                kind: "not-working", reason, since, notes: [
                    `The pod watcher has not been able to watch the PostgreSQL pods since ${iso(since)} (${state.failuresInARow} failure(s) in a row).`,
                    "Until it can, crashes, OOM kills, evictions and lost pods are not mailed; the preStop mail of a graceful stop still is.",
                    "Kubernetes restarts the watcher while this lasts; one more mail follows when it watches again.",
                ],
            },
        };
    }
    if (state.outage === undefined) {
        return { state };
    }
    const outage = state.outage;
    const cleared = { ...state, outage: undefined };
    if (!outage.mailed) {
        return { state: cleared };
    }
    const back = state.lastContactAt ?? at;
    return {
        state: cleared,
        decision: {
            kind: "working-again", reason: "the pod watcher watches again", since: back, notes: [
                `Blind from ${iso(outage.since)} to ${iso(back)} (${outage.reason}).`,
                "What the pods' statuses show happened meanwhile is reported in separate mails.",
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

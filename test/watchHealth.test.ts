import * as assert from "assert";
import { LOG_TIMEOUT_MS, logReadMs, lookbackMs, stopBudgetMs, watcherGraceSeconds } from "../alerting/src/watch/budget";
import { afterSignal, classifyProblem, HealthBounds, HealthDecision, healthDecision, HealthSignal, HealthState, initialHealth, probes } from "../alerting/src/watch/health";

const BOUNDS: HealthBounds = { reconnectMs: 5_000, silentMs: 90_000, blindMs: 120_000 };
const s = (seconds: number) => seconds * 1000;
const FORBIDDEN = { kind: "authorization" as const, detail: "HTTP 403: pods is forbidden" };

type Step = { second: number; signal?: HealthSignal };

/** Plays signals (and bare checks) in order; returns the state and each mail with the second it was decided at. */
function play(steps: Step[], start: HealthState = initialHealth(0)): { state: HealthState; mails: string[] } {
    let state = start;
    const mails: string[] = [];
    for (const step of steps) {
        if (step.signal) {
            state = afterSignal(state, step.signal, s(step.second));
        }
        const result = healthDecision(state, s(step.second), BOUNDS);
        state = result.state;
        const decision: HealthDecision | undefined = result.decision;
        if (decision) {
            mails.push(`${step.second}s ${decision.kind} since ${decision.since / 1000}s: ${decision.reason}`);
        }
    }
    return { state, mails };
}

const connected: Step[] = [{ second: 1, signal: { type: "listed" } }, { second: 1, signal: { type: "watch-opened" } }];

describe("the watcher's probes, from its informer's state", () => {
    const cases: { name: string; steps: Step[]; at: number; expect: { ready: boolean; live: boolean } }[] = [
        { name: "starting: not ready yet, alive", steps: [], at: 3, expect: { ready: false, live: true } },
        { name: "listed and watching: ready", steps: connected, at: 3, expect: { ready: true, live: true } },
        { name: "a clean close being reopened (the client's 30 s cycle): still ready", steps: [...connected, { second: 30, signal: { type: "watch-ended" } }], at: 33, expect: { ready: true, live: true } },
        { name: "a close not reopened for 5 s: not ready", steps: [...connected, { second: 30, signal: { type: "watch-ended" } }], at: 35, expect: { ready: false, live: true } },
        { name: "a failure: not ready at once", steps: [...connected, { second: 30, signal: { type: "failed", problem: FORBIDDEN } }], at: 30, expect: { ready: false, live: true } },
        { name: "blind for the bound: not live, so Kubernetes restarts it", steps: [...connected, { second: 30, signal: { type: "failed", problem: FORBIDDEN } }], at: 150, expect: { ready: false, live: false } },
        { name: "never connected for the bound: not live", steps: [{ second: 5, signal: { type: "failed", problem: FORBIDDEN } }], at: 120, expect: { ready: false, live: false } },
        { name: "an open watch that hears nothing for 90 s: not ready", steps: connected, at: 92, expect: { ready: false, live: true } },
        { name: "... and for 90 s more than the bound: not live", steps: connected, at: 122, expect: { ready: false, live: false } },
        { name: "bookmarks keep a quiet watch ready", steps: [...connected, { second: 60, signal: { type: "event" } }, { second: 120, signal: { type: "event" } }], at: 200, expect: { ready: true, live: true } },
    ];
    for (const testCase of cases) {
        it(testCase.name, () => {
            assert.deepStrictEqual(probes(play(testCase.steps).state, s(testCase.at), BOUNDS), testCase.expect);
        });
    }
});

describe("the mails about the watcher itself", () => {
    const cases: { name: string; steps: Step[]; expect: string[] }[] = [
        {
            name: "blind shorter than the bound (an API server restart): nothing",
            steps: [...connected, { second: 10, signal: { type: "failed", problem: { kind: "network", detail: "ECONNREFUSED" } } }, { second: 129 }, { second: 129, signal: { type: "watch-opened" } }, { second: 240 }],
            expect: [],
        },
        {
            name: "blind for the bound: one mail with the cause, one when it watches again, however many failures between",
            steps: [
                ...connected,
                { second: 10, signal: { type: "failed", problem: FORBIDDEN } },
                { second: 130 },
                { second: 160, signal: { type: "failed", problem: FORBIDDEN } },
                { second: 400, signal: { type: "failed", problem: FORBIDDEN } },
                { second: 500, signal: { type: "listed" } },
                { second: 500, signal: { type: "watch-opened" } },
                { second: 610 },
            ],
            expect: [
                "130s not-working since 10s: the watcher's Role does not allow it (HTTP 403: pods is forbidden)",
                "500s working-again since 500s: the pod watcher watches again",
            ],
        },
        {
            name: "a watch that stays open but hears nothing",
            steps: [...connected, { second: 211 }],
            expect: ["211s not-working since 1s: the watch stays open but nothing arrives (no event, bookmark or reconnect)"],
        },
        {
            name: "never able to watch since start",
            steps: [{ second: 120 }],
            expect: ["120s not-working since 0s: no watch could be opened yet"],
        },
    ];
    for (const testCase of cases) {
        it(testCase.name, () => {
            assert.deepStrictEqual(play(testCase.steps).mails, testCase.expect);
        });
    }

    it("a restarted container that carries the mailed outage does not mail it again, and mails the recovery", () => {
        const carried = initialHealth(s(1000), { since: s(10), reason: "the watcher's Role does not allow it (HTTP 403)", mailed: true });
        const { mails } = play([{ second: 1130, signal: { type: "failed", problem: FORBIDDEN } }, { second: 1200 }, { second: 1300, signal: { type: "watch-opened" } }], carried);
        assert.deepStrictEqual(mails, ["1300s working-again since 1300s: the pod watcher watches again"]);
    });
});

describe("what a client error says about the watch", () => {
    const fetchFailed = (code: string) => Object.assign(new TypeError("fetch failed"), { cause: { code } });
    const cases: { name: string; error: unknown; expect: ReturnType<typeof classifyProblem> }[] = [
        {
            name: "a list refused for the token (ApiException)",
            error: { code: 401, body: JSON.stringify({ kind: "Status", message: "Unauthorized" }), message: "HTTP-Code: 401 ... Headers: {\"authorization\":\"Bearer secret\"}" },
            expect: { kind: "authentication", detail: "HTTP 401: Unauthorized" },
        },
        { name: "a watch refused by RBAC", error: Object.assign(new Error("Forbidden"), { statusCode: 403 }), expect: { kind: "authorization", detail: "HTTP 403" } },
        { name: "an API server error", error: { code: 503, body: { message: "etcdserver: leader changed" } }, expect: { kind: "server", detail: "HTTP 503: etcdserver: leader changed" } },
        { name: "an untrusted certificate", error: fetchFailed("DEPTH_ZERO_SELF_SIGNED_CERT"), expect: { kind: "tls", detail: "DEPTH_ZERO_SELF_SIGNED_CERT" } },
        { name: "an expired certificate", error: fetchFailed("CERT_HAS_EXPIRED"), expect: { kind: "tls", detail: "CERT_HAS_EXPIRED" } },
        { name: "a refused connection", error: fetchFailed("ECONNREFUSED"), expect: { kind: "network", detail: "ECONNREFUSED" } },
        { name: "a connect timeout", error: fetchFailed("UND_ERR_CONNECT_TIMEOUT"), expect: { kind: "network", detail: "UND_ERR_CONNECT_TIMEOUT" } },
        { name: "anything else: its name only", error: new RangeError("Bearer secret"), expect: { kind: "other", detail: "RangeError" } },
    ];
    for (const testCase of cases) {
        it(`${testCase.name}: ${testCase.expect.kind}, no client message`, () => {
            assert.deepStrictEqual(classifyProblem(testCase.error), testCase.expect);
        });
    }
});

describe("the watcher's time budgets", () => {
    for (const deadline of [5, 20, 120]) {
        it(`a send that starts at SIGTERM, log read included, ends inside the grace period (alert deadline ${deadline} s)`, () => {
            const grace = watcherGraceSeconds(deadline);
            const budget = stopBudgetMs(grace);
            assert.ok(budget >= s(deadline) + LOG_TIMEOUT_MS, `budget ${budget} ms`);
            assert.ok(budget < s(grace), "time is left to exit before SIGKILL");
            assert.ok(lookbackMs(grace) > s(grace), "a new watcher looks back past its predecessor's whole stop");
        });
    }

    const reads: { name: string; context: Parameters<typeof logReadMs>[0]; expect: number }[] = [
        { name: "a pod on a lost node: skipped", context: { nodeLost: true, now: 0, sendDeadlineMs: s(20) }, expect: 0 },
        { name: "running: the full timeout", context: { nodeLost: false, now: 0, sendDeadlineMs: s(20) }, expect: LOG_TIMEOUT_MS },
        { name: "stopping with room: the full timeout", context: { nodeLost: false, now: 0, sendDeadlineMs: s(20), stopBy: s(22) }, expect: LOG_TIMEOUT_MS },
        { name: "stopping, little room: what is left after the send's deadline", context: { nodeLost: false, now: 0, sendDeadlineMs: s(20), stopBy: s(20.5) }, expect: 500 },
        { name: "stopping, no room: skipped", context: { nodeLost: false, now: 0, sendDeadlineMs: s(20), stopBy: s(10) }, expect: 0 },
    ];
    for (const testCase of reads) {
        it(`log read: ${testCase.name}`, () => {
            assert.strictEqual(logReadMs(testCase.context), testCase.expect);
        });
    }
});

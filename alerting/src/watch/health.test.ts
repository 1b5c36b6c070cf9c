import * as assert from "assert";
import { LOG_TIMEOUT_MS, logReadMs, lookbackMs, stopBudgetMs, watcherGraceSeconds } from "./budget";
import {
    afterSignal, classifyProblem, HealthBounds, HealthDecision, healthDecision, HealthSignal, initialHealth, Outage, probes, Watched, WatchHealth, watcherProbes,
} from "./health";

const BOUNDS: HealthBounds = { reconnectMs: 5_000, silentMs: 90_000, blindMs: 120_000 };
const s = (seconds: number) => seconds * 1000;
const FORBIDDEN = { kind: "authorization" as const, detail: "HTTP 403: pods is forbidden" };
const JOBS_FORBIDDEN = { kind: "authorization" as const, detail: "HTTP 403: jobs.batch is forbidden" };

/** A signal of one watch (the pods' unless said), or a bare check. */
type Step = { second: number; signal?: HealthSignal; watch?: Watched };
interface Played {
    readonly watches: WatchHealth;
    readonly outage?: Outage;
}

const podsOnly = (): Played => ({ watches: { pods: initialHealth(0) } });
const withJobs = (): Played => ({ watches: { pods: initialHealth(0), jobs: initialHealth(0) } });

/** Plays signals (and bare checks) in order; returns the state and each mail with the second it was decided at. */
function play(steps: Step[], start: Played = podsOnly()): Played & { mails: string[] } {
    let { watches, outage } = start;
    const mails: string[] = [];
    for (const step of steps) {
        if (step.signal) {
            const watched = step.watch ?? "pods";
            watches = { ...watches, [watched]: afterSignal(watches[watched]!, step.signal, s(step.second)) };
        }
        const result = healthDecision(watches, outage, s(step.second), BOUNDS);
        outage = result.outage;
        const decision: HealthDecision | undefined = result.decision;
        if (decision) {
            mails.push(`${step.second}s ${decision.kind} since ${decision.since / 1000}s: ${decision.reason}`);
        }
    }
    return { watches, outage, mails };
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
            assert.deepStrictEqual(probes(play(testCase.steps).watches.pods, s(testCase.at), BOUNDS), testCase.expect);
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
        const carried: Played = {
            watches: { pods: initialHealth(s(1000)) },
            outage: { since: s(10), reason: "the watcher's Role does not allow it (HTTP 403)", mailed: true, watches: ["pods"] },
        };
        const { mails } = play([{ second: 1130, signal: { type: "failed", problem: FORBIDDEN } }, { second: 1200 }, { second: 1300, signal: { type: "watch-opened" } }], carried);
        assert.deepStrictEqual(mails, ["1300s working-again since 1300s: the pod watcher watches again"]);
    });
});

describe("the watcher's health with the backup Jobs watched too", () => {
    const bothConnected: Step[] = [...connected, ...connected.map((step): Step => ({ ...step, watch: "jobs" }))];
    const jobsRefused: Step = { second: 10, signal: { type: "failed", problem: JOBS_FORBIDDEN }, watch: "jobs" };
    /** Bookmarks every minute until `until` on a watch, so that a quiet watch does not count as dead. */
    const bookmarks = (watch: Watched, until: number): Step[] =>
        Array.from({ length: Math.floor(until / 60) }, (_, i) => ({ second: 60 * (i + 1), signal: { type: "event" }, watch }));
    /** Steps in the order of their time (stable: steps of the same second keep their order). */
    const timeline = (...steps: Step[][]) => steps.flat().sort((a, b) => a.second - b.second);

    const probeCases: { name: string; steps: Step[]; at: number; expect: { ready: boolean; live: boolean } }[] = [
        { name: "both watching: ready", steps: bothConnected, at: 3, expect: { ready: true, live: true } },
        { name: "the Jobs watch refused: not ready at once", steps: [...bothConnected, jobsRefused], at: 10, expect: { ready: false, live: true } },
        { name: "... and still live after the bound: a restart would interrupt the pod alerts", steps: timeline(bothConnected, [jobsRefused], bookmarks("pods", 300)), at: 300, expect: { ready: false, live: true } },
        { name: "the pods watch blind for the bound: not live, whatever the Jobs watch", steps: [...bothConnected, { second: 10, signal: { type: "failed", problem: FORBIDDEN } }], at: 130, expect: { ready: false, live: false } },
    ];
    for (const testCase of probeCases) {
        it(`probes: ${testCase.name}`, () => {
            assert.deepStrictEqual(watcherProbes(play(testCase.steps, withJobs()).watches, s(testCase.at), BOUNDS), testCase.expect);
        });
    }

    const mailCases: { name: string; steps: Step[]; expect: string[] }[] = [
        {
            name: "the Jobs watch refused (403) while the pods are watched: one mail about the backup alerts, one when it watches them again",
            steps: timeline(bothConnected, bookmarks("pods", 400), [
                jobsRefused, { second: 129 }, { second: 130 }, { second: 200, signal: { type: "failed", problem: JOBS_FORBIDDEN }, watch: "jobs" },
                { second: 300, signal: { type: "listed" }, watch: "jobs" }, { second: 300, signal: { type: "watch-opened" }, watch: "jobs" }, { second: 400 },
            ]),
            expect: [
                "130s backup-alerts-not-working since 10s: the watcher's Role does not allow it (HTTP 403: jobs.batch is forbidden)",
                "300s backup-alerts-working-again since 300s: the pod watcher watches the backup Jobs again",
            ],
        },
        {
            name: "both refused (a wrong token): one mail, about the pod alerts, and one when both watch again",
            steps: [
                { second: 1, signal: { type: "failed", problem: FORBIDDEN } }, { second: 1, signal: { type: "failed", problem: JOBS_FORBIDDEN }, watch: "jobs" },
                { second: 120 }, { second: 200, signal: { type: "watch-opened" } }, { second: 250 }, { second: 260, signal: { type: "watch-opened" }, watch: "jobs" },
            ],
            expect: [
                "120s not-working since 0s: the watcher's Role does not allow it (HTTP 403: pods is forbidden)",
                "260s working-again since 260s: the pod watcher watches again",
            ],
        },
        {
            name: "a Jobs watch that fails after the mail about the pods joins that outage",
            steps: timeline(bothConnected, bookmarks("jobs", 130), bookmarks("pods", 700).filter((step) => step.second > 500), [
                { second: 10, signal: { type: "failed", problem: FORBIDDEN } }, { second: 130 },
                { second: 140, signal: { type: "failed", problem: JOBS_FORBIDDEN }, watch: "jobs" }, { second: 400 }, { second: 500, signal: { type: "watch-opened" } },
                { second: 600 }, { second: 700, signal: { type: "watch-opened" }, watch: "jobs" },
            ]),
            expect: [
                "130s not-working since 10s: the watcher's Role does not allow it (HTTP 403: pods is forbidden)",
                "700s working-again since 700s: the pod watcher watches again",
            ],
        },
    ];
    for (const testCase of mailCases) {
        it(`mails: ${testCase.name}`, () => {
            assert.deepStrictEqual(play(testCase.steps, withJobs()).mails, testCase.expect);
        });
    }

    it("the one mail for both names each watch and what is not mailed meanwhile", () => {
        const played = play([{ second: 1, signal: { type: "failed", problem: FORBIDDEN } }, { second: 1, signal: { type: "failed", problem: JOBS_FORBIDDEN }, watch: "jobs" }], withJobs());
        const { decision } = healthDecision(played.watches, undefined, s(120), BOUNDS);
        assert.deepStrictEqual(decision?.notes, [
            "The pod watcher has not been able to watch the PostgreSQL pods since 1970-01-01T00:00:00.000Z (1 failure(s) in a row).",
            "Until it can, crashes, OOM kills, evictions and lost pods are not mailed; the preStop mail of a graceful stop still is.",
            "The pod watcher has not been able to watch the backup Jobs since 1970-01-01T00:00:00.000Z (1 failure(s) in a row).",
            "Until it can, failed backups and backups that stopped are not mailed.",
            "Kubernetes restarts the watcher while this lasts; one more mail follows when it watches again.",
        ]);
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

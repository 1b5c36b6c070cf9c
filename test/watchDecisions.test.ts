import * as assert from "assert";
import { decide, Decision, initialState, nextCheckAt, Observation } from "../alerting/src/watch/decide";
import { PodView } from "../alerting/src/watch/podView";

const THRESHOLD = 60_000;
const s = (seconds: number) => seconds * 1000;

function pod(overrides: Partial<PodView> = {}): PodView {
    return { uid: "a", name: "postgres-a", namespace: "workshop", node: "n1", ip: "10.0.0.5", phase: "Running", terminating: false, ready: true, restarts: 0, ...overrides };
}
const crashed = (restarts: number, reason = "Error", exitCode = 1, extra: Partial<PodView> = {}) =>
    pod({ ready: false, restarts, lastTerminated: { reason, exitCode }, ...extra });

/** Plays observations in order and returns each decision with the second it was made at. */
function play(steps: (Omit<Observation, "at"> & { second: number })[]): (Decision & { second: number })[] {
    let state = initialState(0);
    const made: (Decision & { second: number })[] = [];
    for (const step of steps) {
        const result = decide(state, { at: s(step.second), pods: step.pods, deleted: step.deleted }, THRESHOLD);
        state = result.state;
        made.push(...result.decisions.map((decision) => ({ ...decision, second: step.second })));
    }
    return made;
}

const summary = (decisions: (Decision & { second: number })[]) => decisions.map((d) => `${d.second}s ${d.kind}: ${d.reason}`);

describe("the watcher's decisions over sequences of pod states", () => {
    const cases: { name: string; steps: Parameters<typeof play>[0]; expect: string[] }[] = [
        {
            name: "a healthy pod: nothing",
            steps: [{ second: 1, pods: [pod()] }, { second: 300, pods: [pod()] }],
            expect: [],
        },
        {
            name: "a crash: one down mail at once, one recovery once ready for the threshold",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [crashed(1)] },
                { second: 10, pods: [pod({ restarts: 1 })] },
                { second: 70, pods: [pod({ restarts: 1 })] },
            ],
            expect: ["5s down: Error", "70s recovered: a PostgreSQL pod is ready again"],
        },
        {
            name: "an OOM kill",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [crashed(1, "OOMKilled", 137)] }],
            expect: ["5s down: OOMKilled"],
        },
        {
            name: "CrashLoopBackOff names the backoff and the last exit",
            steps: [{ second: 1, pods: [crashed(3, "Error", 1)] }, { second: 5, pods: [crashed(4, "Error", 1, { waitingReason: "CrashLoopBackOff" })] }],
            expect: ["5s down: CrashLoopBackOff, last exit Error"],
        },
        {
            name: "a hard eviction by the kubelet (no preStop runs)",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [pod({ phase: "Failed", reason: "Evicted", ready: false })] }],
            expect: ["5s down: Evicted"],
        },
        {
            name: "a forced deletion",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [], deleted: pod({ terminating: true, gracePeriodSeconds: 0 }) }],
            expect: ["5s down: pod deleted without a graceful stop"],
        },
        {
            name: "a graceful stop with a replacement: the preStop hook mailed, the watcher only mails the recovery",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 20, pods: [], deleted: pod({ terminating: true, gracePeriodSeconds: 55, ready: false }) },
                { second: 22, pods: [pod({ uid: "b", name: "postgres-b", ready: false, phase: "Pending" })] },
                { second: 40, pods: [pod({ uid: "b", name: "postgres-b" })] },
                { second: 100, pods: [pod({ uid: "b", name: "postgres-b" })] },
            ],
            expect: ["100s recovered: a PostgreSQL pod is ready again"],
        },
        {
            name: "a graceful stop with no replacement (scaled to zero): down once the threshold passes",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 30, pods: [], deleted: pod({ terminating: true, gracePeriodSeconds: 55, ready: false }) },
                { second: 65, pods: [] },
                { second: 200, pods: [] },
            ],
            expect: ["65s down: no PostgreSQL pod for 60s (scaled to zero or not scheduled)"],
        },
        {
            name: "NotReady shorter than the threshold: nothing",
            steps: [{ second: 1, pods: [pod()] }, { second: 10, pods: [pod({ ready: false })] }, { second: 69, pods: [pod()] }, { second: 200, pods: [pod()] }],
            expect: [],
        },
        {
            name: "NotReady longer than the threshold: down, then recovered",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 10, pods: [pod({ ready: false })] },
                { second: 70, pods: [pod({ ready: false })] },
                { second: 80, pods: [pod()] },
                { second: 140, pods: [pod()] },
            ],
            expect: ["70s down: no ready PostgreSQL pod for 60s (postgres-a: NotReady)", "140s recovered: a PostgreSQL pod is ready again"],
        },
        {
            name: "a pod that never becomes ready (stuck Pending)",
            steps: [{ second: 0, pods: [pod({ phase: "Pending", ready: false })] }, { second: 60, pods: [pod({ phase: "Pending", ready: false })] }],
            expect: ["60s down: no ready PostgreSQL pod for 60s (postgres-a: Pending)"],
        },
        {
            name: "flapping: one down mail, one recovery mail with a summary",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [crashed(1)] },
                { second: 10, pods: [pod({ restarts: 1 })] },
                { second: 20, pods: [crashed(2)] },
                { second: 25, pods: [pod({ restarts: 2 })] },
                { second: 30, pods: [crashed(3, "Error", 1, { waitingReason: "CrashLoopBackOff" })] },
                { second: 45, pods: [pod({ restarts: 3 })] },
                { second: 104, pods: [pod({ restarts: 3 })] },
                { second: 105, pods: [pod({ restarts: 3 })] },
            ],
            expect: ["5s down: Error", "105s recovered: a PostgreSQL pod is ready again"],
        },
        {
            name: "a watcher that starts during a crash loop does not mail old restarts, but the outage",
            steps: [
                { second: 0, pods: [crashed(5, "Error", 1, { waitingReason: "CrashLoopBackOff" })] },
                { second: 60, pods: [crashed(5, "Error", 1, { waitingReason: "CrashLoopBackOff" })] },
            ],
            expect: ["60s down: no ready PostgreSQL pod for 60s (postgres-a: CrashLoopBackOff)"],
        },
        {
            name: "a crash of the replacement after a graceful stop is mailed",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 20, pods: [pod({ uid: "b", name: "postgres-b", ready: false })] },
                { second: 25, pods: [pod({ uid: "b", name: "postgres-b", ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } })] },
            ],
            expect: ["25s down: OOMKilled"],
        },
    ];

    for (const testCase of cases) {
        it(testCase.name, () => {
            assert.deepStrictEqual(summary(play(testCase.steps)), testCase.expect);
        });
    }

    it("a down mail carries the exit code, restart count and asks for the crashed container's log", () => {
        const [down] = play([{ second: 1, pods: [pod()] }, { second: 5, pods: [crashed(2, "OOMKilled", 137)] }]);
        assert.strictEqual(down.exitCode, 137);
        assert.strictEqual(down.restarts, 2);
        assert.strictEqual(down.previousLog, true);
        assert.strictEqual(down.pod?.node, "n1");
    });

    it("the recovery mail sums up what was not mailed one by one", () => {
        const decisions = play([
            { second: 1, pods: [pod()] },
            { second: 5, pods: [crashed(1)] },
            { second: 10, pods: [pod({ restarts: 1 })] },
            { second: 20, pods: [crashed(2)] },
            { second: 25, pods: [pod({ restarts: 2 })] },
            { second: 85, pods: [pod({ restarts: 2 })] },
        ]);
        const recovered = decisions.find((d) => d.kind === "recovered")!;
        assert.deepStrictEqual(recovered.notes, [
            "Down for 20s, since 1970-01-01T00:00:05.000Z (Error).",
            "During the incident: 1 further failure(s) and 0 flap(s), not mailed one by one.",
            "Ready without a break for 60s.",
        ]);
    });

    it("asks to be woken when a threshold ends, and not otherwise", () => {
        const start = initialState(0);
        assert.strictEqual(nextCheckAt(start, THRESHOLD), THRESHOLD, "a pod must become ready within the threshold");
        const healthy = decide(start, { at: s(1), pods: [pod()] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(healthy, THRESHOLD), undefined);
        const notReady = decide(healthy, { at: s(10), pods: [pod({ ready: false })] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(notReady, THRESHOLD), s(70));
        const crashedState = decide(healthy, { at: s(10), pods: [crashed(1)] }, THRESHOLD).state;
        const readyAgain = decide(crashedState, { at: s(12), pods: [pod({ restarts: 1 })] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(readyAgain, THRESHOLD), s(72), "the recovery is due once ready for the threshold");
    });
});

import * as assert from "assert";
import { decide, Decision, initialState, nextCheckAt, Observation } from "./decide";
import { PodView, podView } from "./podView";

const THRESHOLD = 60_000;
const s = (seconds: number) => seconds * 1000;

function pod(overrides: Partial<PodView> = {}): PodView {
    return { uid: "a", name: "postgres-a", namespace: "workshop", node: "n1", ip: "10.0.0.5", phase: "Running", terminating: false, ready: true, nodeLost: false, restarts: 0, ...overrides };
}
const crashed = (restarts: number, reason = "Error", exitCode = 1, extra: Partial<PodView> = {}) =>
    pod({ ready: false, restarts, lastTerminated: { reason, exitCode }, ...extra });

/** Plays observations in order and returns each decision with the second it was made at. */
function play(steps: (Omit<Observation, "at"> & { second: number })[]): (Decision & { second: number })[] {
    let state = initialState();
    const made: (Decision & { second: number })[] = [];
    for (const step of steps) {
        const result = decide(state, { ...step, at: s(step.second) }, THRESHOLD);
        state = result.state;
        made.push(...result.decisions.map((decision) => ({ ...decision, second: step.second })));
    }
    return made;
}

/** "<when decided> <kind> since <when it began>: <reason>"; "since" is the mail's "When". */
const summary = (decisions: (Decision & { second: number })[]) => decisions.map((d) => `${d.second}s ${d.kind} since ${d.since / 1000}s: ${d.reason}`);

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
            expect: ["5s down since 5s: Error", "70s recovered since 10s: a PostgreSQL pod is ready again"],
        },
        {
            name: "an OOM kill",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [crashed(1, "OOMKilled", 137)] }],
            expect: ["5s down since 5s: OOMKilled"],
        },
        {
            name: "CrashLoopBackOff names the backoff and the last exit",
            steps: [{ second: 1, pods: [crashed(3, "Error", 1)] }, { second: 5, pods: [crashed(4, "Error", 1, { waitingReason: "CrashLoopBackOff" })] }],
            expect: ["5s down since 5s: CrashLoopBackOff, last exit Error"],
        },
        {
            name: "a hard eviction by the kubelet (no preStop runs)",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [pod({ phase: "Failed", reason: "Evicted", ready: false })] }],
            expect: ["5s down since 5s: Evicted"],
        },
        {
            name: "a forced deletion",
            steps: [{ second: 1, pods: [pod()] }, { second: 5, pods: [], deleted: [pod({ terminating: true, gracePeriodSeconds: 0 })] }],
            expect: ["5s down since 5s: pod deleted without a graceful stop"],
        },
        {
            name: "a graceful stop with a replacement: the preStop hook mailed, the watcher only mails the recovery",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 20, pods: [], deleted: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 22, pods: [pod({ uid: "b", name: "postgres-b", ready: false, phase: "Pending" })] },
                { second: 40, pods: [pod({ uid: "b", name: "postgres-b" })] },
                { second: 100, pods: [pod({ uid: "b", name: "postgres-b" })] },
            ],
            expect: ["100s recovered since 40s: a PostgreSQL pod is ready again"],
        },
        {
            name: "a graceful stop with no replacement (scaled to zero): down once the threshold passes",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 30, pods: [], deleted: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 65, pods: [] },
                { second: 200, pods: [] },
            ],
            expect: ["65s down since 5s: no PostgreSQL pod for 60s (scaled to zero or not scheduled)"],
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
            expect: ["70s down since 10s: no ready PostgreSQL pod for 60s (postgres-a: NotReady)", "140s recovered since 80s: a PostgreSQL pod is ready again"],
        },
        {
            name: "a pod that never becomes ready (stuck Pending)",
            steps: [{ second: 0, pods: [pod({ phase: "Pending", ready: false })] }, { second: 60, pods: [pod({ phase: "Pending", ready: false })] }],
            expect: ["60s down since 0s: no ready PostgreSQL pod for 60s (postgres-a: Pending)"],
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
            expect: ["5s down since 5s: Error", "105s recovered since 45s: a PostgreSQL pod is ready again"],
        },
        {
            name: "a watcher that starts during a crash loop does not mail old restarts, but the outage",
            steps: [
                { second: 0, pods: [crashed(5, "Error", 1, { waitingReason: "CrashLoopBackOff" })] },
                { second: 60, pods: [crashed(5, "Error", 1, { waitingReason: "CrashLoopBackOff" })] },
            ],
            expect: ["60s down since 0s: no ready PostgreSQL pod for 60s (postgres-a: CrashLoopBackOff)"],
        },
        {
            name: "a crash of the replacement after a graceful stop is mailed",
            steps: [
                { second: 1, pods: [pod()] },
                { second: 5, pods: [pod({ terminating: true, gracePeriodSeconds: 55, ready: false })] },
                { second: 20, pods: [pod({ uid: "b", name: "postgres-b", ready: false })] },
                { second: 25, pods: [pod({ uid: "b", name: "postgres-b", ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } })] },
            ],
            expect: ["25s down since 25s: OOMKilled"],
        },
    ];

    for (const testCase of cases) {
        it(testCase.name, () => {
            assert.deepStrictEqual(summary(play(testCase.steps)), testCase.expect);
        });
    }

    it("takes the time a failure began from the pod's status", () => {
        const decisions = play([
            { second: 100, pods: [pod()] },
            // The event arrives at 130; the kubelet recorded the end at 127 and the watcher's last look was at 120.
            { second: 130, unseenSince: s(120), pods: [crashed(1, "OOMKilled", 137, { lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt: s(127) } })] },
            { second: 200, pods: [pod({ restarts: 1 })] },
            { second: 300, pods: [pod({ restarts: 1 })] },
            { second: 355, unseenSince: s(340), pods: [pod({ restarts: 1, ready: false, readyChangedAt: s(350) })] },
            { second: 410, unseenSince: s(400), pods: [pod({ restarts: 1, ready: false, readyChangedAt: s(350) })] },
        ]);
        assert.deepStrictEqual(summary(decisions), [
            "130s down since 127s: OOMKilled",
            "300s recovered since 200s: a PostgreSQL pod is ready again",
            "410s down since 350s: no ready PostgreSQL pod for 60s (postgres-a: NotReady)",
        ]);
    });

    it("keeps status times inside the span the observation speaks for (clock skew, old records)", () => {
        const ahead = play([
            { second: 1, pods: [pod()] },
            { second: 100, unseenSince: s(90), pods: [pod({ ready: false, readyChangedAt: s(130) })] },
            { second: 160, pods: [pod({ ready: false, readyChangedAt: s(130) })] },
        ]);
        assert.deepStrictEqual(summary(ahead), ["160s down since 100s: no ready PostgreSQL pod for 60s (postgres-a: NotReady)"]);
        const behind = play([
            { second: 1, pods: [pod()] },
            { second: 100, unseenSince: s(90), pods: [crashed(1, "Error", 1, { lastTerminated: { reason: "Error", exitCode: 1, finishedAt: s(50) } })] },
        ]);
        assert.deepStrictEqual(summary(behind), ["100s down since 90s: Error"]);
    });

    describe("inside a watch gap (a relist after 410 Gone, or a new watcher's first look)", () => {
        // The watcher last saw pod a ready at 10 s; the relist comes at `second`. A vanished pod is
        // reported by the informer with the copy it last had, same resourceVersion.
        const before = pod({ resourceVersion: "7", createdAt: 0, readyChangedAt: s(2) });
        const vanished = [before];
        const replacement = (overrides: Partial<PodView>) => pod({ uid: "b", name: "postgres-b", resourceVersion: "20", ...overrides });
        const gapCases: { name: string; steps: Parameters<typeof play>[0]; expect: string[] }[] = [
            {
                name: "a rollout: the replacement was ready within the threshold, so nothing (the preStop hook mailed the stop)",
                steps: [
                    { second: 10, pods: [before] },
                    { second: 100, unseenSince: s(10), deleted: vanished, pods: [replacement({ createdAt: s(40), readyChangedAt: s(55) })] },
                    { second: 300, pods: [replacement({ createdAt: s(40), readyChangedAt: s(55) })] },
                ],
                expect: [],
            },
            {
                name: "a rollout whose replacement is not ready yet: the threshold counts from the replacement's creation",
                steps: [
                    { second: 10, pods: [before] },
                    { second: 90, unseenSince: s(10), deleted: vanished, pods: [replacement({ createdAt: s(40), ready: false, readyChangedAt: s(40) })] },
                    { second: 100, pods: [replacement({ createdAt: s(40), ready: false, readyChangedAt: s(40) })] },
                ],
                expect: ["100s down since 40s: no ready PostgreSQL pod for 60s (postgres-b: NotReady)"],
            },
            {
                name: "a rollout whose replacement took longer than the threshold: the missed outage, then the recovery",
                steps: [
                    { second: 10, pods: [before] },
                    { second: 200, unseenSince: s(10), deleted: vanished, pods: [replacement({ createdAt: s(40), readyChangedAt: s(130) })] },
                ],
                expect: [
                    "200s down since 40s: no ready PostgreSQL pod for 90s while the watcher was not watching",
                    "200s recovered since 130s: a PostgreSQL pod is ready again",
                ],
            },
            {
                name: "a hard eviction: the evicted pod's status says so",
                steps: [
                    { second: 10, pods: [before] },
                    {
                        second: 100, unseenSince: s(10), pods: [
                            pod({ ...before, phase: "Failed", reason: "Evicted", ready: false, readyChangedAt: s(30), terminated: { reason: "Error", exitCode: 137, finishedAt: s(30) } }),
                            replacement({ createdAt: s(31), readyChangedAt: s(45) }),
                        ],
                    },
                    { second: 110, pods: [replacement({ createdAt: s(31), readyChangedAt: s(45) })] },
                ],
                expect: ["100s down since 30s: Evicted", "110s recovered since 45s: a PostgreSQL pod is ready again"],
            },
            {
                name: "a node loss: the pod lost its readiness with its node; the taint manager's deletion is no graceful stop",
                steps: [
                    { second: 10, pods: [before] },
                    {
                        second: 400, unseenSince: s(10), pods: [
                            pod({ ...before, ready: false, readyChangedAt: s(60), terminating: true, gracePeriodSeconds: 55, deletionRequestedAt: s(320), nodeLost: true }),
                            replacement({ createdAt: s(320), ready: false, phase: "Pending", readyChangedAt: s(320) }),
                        ],
                    },
                ],
                expect: ["400s down since 60s: node lost"],
            },
            {
                name: "a forced deletion, replaced within the threshold: indistinguishable from a rollout, so nothing",
                steps: [
                    { second: 10, pods: [before] },
                    { second: 100, unseenSince: s(10), deleted: vanished, pods: [replacement({ createdAt: s(50), readyChangedAt: s(58) })] },
                ],
                expect: [],
            },
            {
                name: "a forced deletion with no replacement ready: down once the threshold passes",
                steps: [
                    { second: 10, pods: [before] },
                    { second: 60, unseenSince: s(10), deleted: vanished, pods: [replacement({ createdAt: s(50), ready: false, phase: "Pending", readyChangedAt: s(50) })] },
                    { second: 110, pods: [replacement({ createdAt: s(50), ready: false, phase: "Pending", readyChangedAt: s(50) })] },
                ],
                expect: ["110s down since 50s: no ready PostgreSQL pod for 60s (postgres-b: Pending)"],
            },
            {
                name: "a replacement that crashed inside the gap: its status shows the crash",
                steps: [
                    { second: 10, pods: [before] },
                    {
                        second: 100, unseenSince: s(10), deleted: vanished,
                        pods: [replacement({ createdAt: s(40), readyChangedAt: s(80), restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt: s(70) } })],
                    },
                ],
                expect: ["100s down since 70s: OOMKilled"],
            },
            {
                name: "a new watcher reports a crash its look-back window holds, not an older one",
                steps: [
                    {
                        second: 100, unseenSince: s(10), pods: [
                            pod({ restarts: 3, lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt: s(50) } }),
                            pod({ uid: "old", name: "postgres-old", restarts: 9, lastTerminated: { reason: "Error", exitCode: 1, finishedAt: s(5) } }),
                        ],
                    },
                ],
                expect: ["100s down since 50s: OOMKilled"],
            },
        ];
        for (const testCase of gapCases) {
            it(testCase.name, () => {
                assert.deepStrictEqual(summary(play(testCase.steps)), testCase.expect);
            });
        }

        it("says where a crash found in the status comes from, and reads the crashed container's log", () => {
            const [down] = play(gapCases[gapCases.length - 2].steps);
            assert.deepStrictEqual(down.notes, ["Found in the pod's status: the container ended at 1970-01-01T00:01:10.000Z, while the watcher was not watching (since 1970-01-01T00:00:10.000Z)."]);
            assert.strictEqual(down.previousLog, true);
        });
    });

    it("mails a crash during the kubelet's restart backoff when the container ends, with its reason, and does not count its restart again", () => {
        const earlier = { reason: "Error", exitCode: 137, finishedAt: s(0) };
        const oom = { reason: "OOMKilled", exitCode: 1, finishedAt: s(199) };
        let state = decide(initialState(), { at: s(1), pods: [pod({ restarts: 1, lastTerminated: earlier })] }, THRESHOLD).state;
        // The container has ended; the restart count waits for the restart, which the backoff delays.
        const ended = decide(state, { at: s(200), pods: [pod({ ready: false, restarts: 1, terminated: oom, lastTerminated: earlier })] }, THRESHOLD);
        assert.deepStrictEqual(ended.decisions.map((d) => `${d.kind} since ${d.since / 1000}s: ${d.reason} (exit ${d.exitCode})`), ["down since 200s: OOMKilled (exit 1)"]);
        state = ended.state;
        const backingOff = decide(state, { at: s(205), pods: [pod({ ready: false, restarts: 1, waitingReason: "CrashLoopBackOff", lastTerminated: oom })] }, THRESHOLD);
        const restarted = decide(backingOff.state, { at: s(210), pods: [pod({ ready: true, restarts: 2, lastTerminated: oom, readyChangedAt: s(210) })] }, THRESHOLD);
        assert.deepStrictEqual([...backingOff.decisions, ...restarted.decisions, ...backingOff.counted, ...restarted.counted], [], "the same end, not a further failure");
        const recovered = decide(restarted.state, { at: s(270), pods: [pod({ ready: true, restarts: 2, lastTerminated: oom, readyChangedAt: s(210) })] }, THRESHOLD);
        assert.deepStrictEqual(recovered.decisions.map((d) => d.kind), ["recovered"]);
    });

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
            "Down for 10s in all (no ready pod), in 2 outage(s) during an incident of 20s, since 1970-01-01T00:00:05.000Z (Error).",
            "During the incident: 1 further failure(s) and 0 flap(s), not mailed one by one.",
            "Ready without a break for 60s.",
        ]);
    });

    it("asks to be woken when a threshold ends, and not otherwise", () => {
        const pending = decide(initialState(), { at: 0, pods: [pod({ ready: false, phase: "Pending" })] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(pending, THRESHOLD), THRESHOLD, "a pod must become ready within the threshold");
        const healthy = decide(initialState(), { at: s(1), pods: [pod()] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(healthy, THRESHOLD), undefined);
        const notReady = decide(healthy, { at: s(10), pods: [pod({ ready: false })] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(notReady, THRESHOLD), s(70));
        const crashedState = decide(healthy, { at: s(10), pods: [crashed(1)] }, THRESHOLD).state;
        const readyAgain = decide(crashedState, { at: s(12), pods: [pod({ restarts: 1 })] }, THRESHOLD).state;
        assert.strictEqual(nextCheckAt(readyAgain, THRESHOLD), s(72), "the recovery is due once ready for the threshold");
    });
});

describe("the pod facts the watcher reads", () => {
    const lostPod = (status: Record<string, unknown>, deletionTimestamp: string | Date) => podView({
        metadata: { uid: "u", name: "p", creationTimestamp: "2026-11-24T08:00:00Z", deletionTimestamp, deletionGracePeriodSeconds: 30 },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "False", lastTransitionTime: new Date("2026-11-24T08:05:00Z") }], ...status },
    }, "postgres");
    const cases: { name: string; status: Record<string, unknown>; nodeLost: boolean }[] = [
        { name: "the node controller's NodeLost reason", status: { reason: "NodeLost" }, nodeLost: true },
        { name: "the taint manager's deletion", status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" }] }, nodeLost: true },
        { name: "pod GC of a deleted node", status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByPodGC" }] }, nodeLost: true },
        { name: "an eviction through the API", status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI" }] }, nodeLost: false },
    ];
    for (const testCase of cases) {
        it(`knows the node is gone from ${testCase.name}: ${testCase.nodeLost}`, () => {
            assert.strictEqual(lostPod(testCase.status, "2026-11-24T08:10:30Z").nodeLost, testCase.nodeLost);
        });
    }

    it("reads times as watch events (strings) and lists (Dates) give them", () => {
        for (const deletion of ["2026-11-24T08:10:30Z", new Date("2026-11-24T08:10:30Z")]) {
            const view = lostPod({}, deletion);
            assert.strictEqual(view.createdAt, Date.parse("2026-11-24T08:00:00Z"));
            assert.strictEqual(view.readyChangedAt, Date.parse("2026-11-24T08:05:00Z"));
            assert.strictEqual(view.deletionRequestedAt, Date.parse("2026-11-24T08:10:00Z"), "deletionTimestamp minus the grace period");
            assert.strictEqual(view.terminating, true);
        }
    });
});

import * as assert from "assert";
import { decide, Decision, initialState, iso, Observation } from "./decide";
import { PodView } from "./podView";

const THRESHOLD = 60_000;

/** Every time of a row is an offset in seconds from a start the test takes from its own clock. */
function clock(): { at: (seconds: number) => number } {
    const start = Date.now();
    return { at: (seconds) => start + seconds * 1000 };
}

function pod(overrides: Partial<PodView> = {}): PodView {
    return { uid: "a", name: "postgres-a", namespace: "workshop", phase: "Running", terminating: false, ready: true, nodeLost: false, restarts: 0, ...overrides };
}

/** Decides over the observations in order; the recovery mail's first note, and the mails' kinds. */
function recoveryOf(observations: Observation[]): { kinds: string[]; outage: string | undefined } {
    let state = initialState();
    const decisions: Decision[] = [];
    for (const observation of observations) {
        const result = decide(state, observation, THRESHOLD);
        state = result.state;
        decisions.push(...result.decisions);
    }
    return { kinds: decisions.map((d) => d.kind), outage: decisions.find((d) => d.kind === "recovered")?.notes[0] };
}

describe("the recovery mail's outage figures: the time no pod was ready, and the incident when it differs", () => {
    it("a graceful stop, then a crash a minute later: two outages of about 6.5 s, not 66 s down (issue 20)", () => {
        const { at } = clock();
        // The replacement of a graceful stop, ready 6.5 s after the deletion was asked for.
        const b = (extra: Partial<PodView>) => pod({ uid: "b", name: "postgres-b", createdAt: at(1), ...extra });
        const stopping = pod({ terminating: true, gracePeriodSeconds: 56, deletionRequestedAt: at(0), readyChangedAt: at(0), ready: false });
        const result = recoveryOf([
            { at: at(-10), pods: [pod({ readyChangedAt: at(-100) })] },
            { at: at(0), pods: [stopping] },
            { at: at(1), pods: [stopping, b({ ready: false, phase: "Pending" })] },
            { at: at(6.5), pods: [b({ readyChangedAt: at(6.5) })], deleted: [stopping] },
            // Ready for 53 s, then the crash; ready again 6.5 s later.
            { at: at(59.5), pods: [b({ ready: false, readyChangedAt: at(59.5), restarts: 1, lastTerminated: { reason: "Error", exitCode: 1, finishedAt: at(59.5) } })] },
            { at: at(66), pods: [b({ readyChangedAt: at(66), restarts: 1 })] },
            { at: at(126), pods: [b({ readyChangedAt: at(66), restarts: 1 })] },
        ]);
        assert.deepStrictEqual(result.kinds, ["down", "recovered"], "the preStop hook announced the stop; the watcher mails the crash and the recovery");
        assert.strictEqual(result.outage, `Down for 13s in all (no ready pod), in 2 outage(s) during an incident of 66s, since ${iso(at(0))} (graceful stop).`);
    });

    it("one outage: one figure, from when the pod stopped being ready", () => {
        const { at } = clock();
        const result = recoveryOf([
            { at: at(0), pods: [pod({ readyChangedAt: at(-100) })] },
            { at: at(5), pods: [pod({ ready: false, readyChangedAt: at(5), restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt: at(5) } })] },
            { at: at(12), pods: [pod({ readyChangedAt: at(12), restarts: 1 })] },
            { at: at(72), pods: [pod({ readyChangedAt: at(12), restarts: 1 })] },
        ]);
        assert.strictEqual(result.outage, `Down for 7s, since ${iso(at(5))} (OOMKilled).`);
    });

    it("a crash and its recovery both inside a watch gap: the outage from the crash to the Ready change", () => {
        const { at } = clock();
        const result = recoveryOf([
            { at: at(0), pods: [pod({ readyChangedAt: at(-100) })] },
            // A relist: the container ended at 10 s and the pod was ready again at 18 s.
            { at: at(30), unseenSince: at(1), pods: [pod({ readyChangedAt: at(18), restarts: 1, lastTerminated: { reason: "Error", exitCode: 1, finishedAt: at(10) } })] },
            { at: at(80), pods: [pod({ readyChangedAt: at(18), restarts: 1 })] },
        ]);
        assert.deepStrictEqual(result.kinds, ["down", "recovered"]);
        assert.strictEqual(result.outage, `Down for 8s, since ${iso(at(10))} (Error).`);
    });

    it("a pod not ready past the threshold: the whole wait is down time", () => {
        const { at } = clock();
        const result = recoveryOf([
            { at: at(0), pods: [pod({ readyChangedAt: at(-100) })] },
            { at: at(10), pods: [pod({ ready: false, readyChangedAt: at(10) })] },
            { at: at(70), pods: [pod({ ready: false, readyChangedAt: at(10) })] },
            { at: at(95), pods: [pod({ readyChangedAt: at(95) })] },
            { at: at(155), pods: [pod({ readyChangedAt: at(95) })] },
        ]);
        assert.strictEqual(result.outage, `Down for 85s, since ${iso(at(10))} (no ready PostgreSQL pod for 60s (postgres-a: NotReady)).`);
    });
});

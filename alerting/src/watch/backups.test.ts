import * as assert from "assert";
import { BackupDecision, BackupObservation, BackupState, decideBackups, duration, initialBackupState, nextBackupCheckAt } from "./backups";
import { JobView, jobView } from "./jobView";

/** The schedule's longest gap between two runs; an alert is due after twice this. */
const s = (seconds: number) => seconds * 1000;
const INTERVAL = s(1000);

function job(uid: string, outcome: JobView["outcome"], finishedSecond?: number, extra: Partial<JobView> = {}): JobView {
    return {
        uid, name: `postgres-backup-${uid}`, namespace: "workshop", createdAt: s(finishedSecond === undefined ? 0 : finishedSecond - 5), outcome,
        finishedAt: finishedSecond === undefined ? undefined : s(finishedSecond), failedPods: outcome === "failed" ? 2 : 0, ...extra,
    };
}
const running = (uid: string, createdSecond = 0) => job(uid, "running", undefined, { createdAt: s(createdSecond) });
const succeeded = (uid: string, second: number) => job(uid, "succeeded", second);
const failed = (uid: string, second: number, reason = "BackoffLimitExceeded") =>
    job(uid, "failed", second, { reason, message: "Job has reached the specified backoff limit" });

type Step = Omit<BackupObservation, "at"> & {
    second: number;
    /** The container restarted before this step: the state comes back through its file. */
    restarted?: boolean;
};

/**
 * Plays observations in order; returns each decision with the second it was made at, and the last
 * state. Unless a step says otherwise, the watcher vouches for what happened up to its previous look.
 */
function play(steps: Step[], start: BackupState = initialBackupState()): { made: (BackupDecision & { second: number })[]; state: BackupState } {
    let state = start;
    let previous: number | undefined;
    const made: (BackupDecision & { second: number })[] = [];
    for (const { second, restarted, ...observation } of steps) {
        if (restarted) {
            state = JSON.parse(JSON.stringify(state)) as BackupState;
        }
        const result = decideBackups(state, { unseenSince: previous, ...observation, at: s(second) }, INTERVAL);
        previous = s(second);
        state = result.state;
        made.push(...result.decisions.map((decision) => ({ ...decision, second })));
    }
    return { made, state };
}

/** "<when decided> <kind> since <the mail's When>: <reason>". */
const summary = (steps: Step[]) => play(steps).made.map((d) => `${d.second}s ${d.kind} since ${d.since / 1000}s: ${d.reason}`);

describe("the watcher's decisions about backup Jobs", () => {
    // The CronJob keeps a success from 10 s; the watcher first looks at 20 s (no look-back: it was watching before).
    const kept = succeeded("a", 10);
    /** A new watcher pod looks first at 1000 s, back to 915 s, and finds `found`; then Job c runs and succeeds. */
    const newWatcherThenSuccess = (found: JobView[]): Step[] => [
        { second: 1000, unseenSince: s(915), jobs: found },
        { second: 1100, jobs: [...found, running("c", 1100)] },
        { second: 1200, jobs: [...found, succeeded("c", 1190)] },
    ];
    /** Job b runs from 100 s and fails at 125 s. */
    const bFailed: Step[] = [{ second: 20, jobs: [kept] }, { second: 100, jobs: [kept, running("b", 100)] }, { second: 130, jobs: [kept, failed("b", 125)] }];
    const cases: { name: string; steps: Step[]; expect: string[] }[] = [
        {
            name: "a Job that is still running: nothing",
            steps: [{ second: 20, jobs: [kept] }, { second: 100, jobs: [kept, running("b", 100)] }, { second: 1900, jobs: [kept, running("b", 100)] }],
            expect: [],
        },
        {
            name: "a failed Job: one mail, dated by its failure condition",
            steps: bFailed,
            expect: ["130s backup-failed since 125s: BackoffLimitExceeded"],
        },
        {
            name: "a second failed Job in the same incident: no new mail",
            steps: [
                ...bFailed,
                { second: 1100, jobs: [kept, failed("b", 125), running("c", 1100)] },
                { second: 1130, jobs: [kept, failed("b", 125), failed("c", 1125, "DeadlineExceeded")] },
            ],
            expect: ["130s backup-failed since 125s: BackoffLimitExceeded"],
        },
        {
            name: "success after failure: one recovery mail, dated by the completion",
            steps: [
                ...bFailed,
                { second: 1100, jobs: [kept, failed("b", 125), running("c", 1100)] },
                { second: 1160, jobs: [kept, failed("b", 125), succeeded("c", 1150)] },
                { second: 3100, jobs: [kept, failed("b", 125), succeeded("c", 1150)] },
            ],
            expect: ["130s backup-failed since 125s: BackoffLimitExceeded", "1160s backups-recovered since 1150s: a backup succeeded"],
        },
        {
            name: "no success for longer than twice the interval, counted from the last success: one mail when the deadline passed, then the recovery",
            steps: [
                { second: 20, jobs: [kept] },
                { second: 2009, jobs: [kept] },
                { second: 2012, jobs: [kept] },
                { second: 2500, jobs: [kept, running("b", 2500)] },
                { second: 3000, jobs: [kept, succeeded("b", 2990)] },
            ],
            expect: ["2012s backups-stopped since 2010s: no backup has succeeded for 33min", "3000s backups-recovered since 2990s: a backup succeeded"],
        },
        {
            name: "never a success: counted from the watcher's first look",
            steps: [{ second: 100, jobs: [] }, { second: 2099, jobs: [] }, { second: 2100, jobs: [] }],
            expect: ["2100s backups-stopped since 2100s: no backup has succeeded for 33min"],
        },
        {
            name: "never a success: counted from the oldest kept Job when that is earlier (the CronJob existed then)",
            steps: [
                { second: 100, jobs: [running("b", 50)] },
                { second: 2050, jobs: [running("b", 50)] },
            ],
            expect: ["2050s backups-stopped since 2050s: no backup has succeeded for 33min"],
        },
        {
            name: "a stopped incident, then a failed Job: counted into it, not mailed",
            steps: [
                { second: 20, jobs: [kept] },
                { second: 2010, jobs: [kept] },
                { second: 2100, jobs: [kept, running("b", 2100)] },
                { second: 2200, jobs: [kept, failed("b", 2190)] },
                { second: 2900, jobs: [kept, failed("b", 2190), running("c", 2900)] },
                { second: 3000, jobs: [kept, failed("b", 2190), succeeded("c", 2995)] },
            ],
            expect: ["2010s backups-stopped since 2010s: no backup has succeeded for 33min", "3000s backups-recovered since 2995s: a backup succeeded"],
        },
        {
            name: "a watch gap (relist): a Job that ran and failed inside it is mailed, dated by its status",
            steps: [{ second: 20, jobs: [kept] }, { second: 500, unseenSince: s(100), jobs: [kept, failed("b", 300)] }],
            expect: ["500s backup-failed since 300s: BackoffLimitExceeded"],
        },
        {
            name: "a watch gap holding a failure and a later success: both, in their order",
            steps: [{ second: 20, jobs: [kept] }, { second: 500, unseenSince: s(100), jobs: [kept, failed("b", 300), succeeded("c", 450)] }],
            expect: ["500s backup-failed since 300s: BackoffLimitExceeded", "500s backups-recovered since 450s: a backup succeeded"],
        },
        {
            name: "a restarted container, its state carried in the emptyDir: no second mail for the incident, one recovery",
            steps: [
                ...bFailed,
                { second: 300, restarted: true, unseenSince: s(130), jobs: [kept, failed("b", 125)] },
                { second: 1100, jobs: [kept, failed("b", 125), running("c", 1100)] },
                { second: 1130, jobs: [kept, failed("b", 125), failed("c", 1125)] },
                { second: 2100, jobs: [kept, failed("b", 125), failed("c", 1125), running("d", 2100)] },
                { second: 2200, jobs: [kept, failed("b", 125), failed("c", 1125), succeeded("d", 2150)] },
            ],
            expect: ["130s backup-failed since 125s: BackoffLimitExceeded", "2200s backups-recovered since 2150s: a backup succeeded"],
        },
        {
            name: "a new watcher pod (no state) mails a failure inside its look-back, found in the Job's status",
            steps: [{ second: 1000, unseenSince: s(915), jobs: [succeeded("a", 100), failed("b", 950)] }],
            expect: ["1000s backup-failed since 950s: BackoffLimitExceeded"],
        },
        {
            name: "a new watcher pod does not mail a failure older than its look-back, but the recovery after it",
            steps: newWatcherThenSuccess([succeeded("a", 100), failed("b", 500)]),
            expect: ["1200s backups-recovered since 1190s: a backup succeeded"],
        },
        {
            name: "a new watcher pod finding a failure that a success already followed: nothing, then or later",
            steps: newWatcherThenSuccess([failed("a", 100), succeeded("b", 500)]),
            expect: [],
        },
        {
            name: "a new watcher pod finding backups failing and the deadline past: one mail, that backups stopped",
            steps: [
                { second: 3000, unseenSince: s(2915), jobs: [succeeded("a", 100), failed("b", 1100), failed("c", 2100)] },
                { second: 3100, jobs: [succeeded("a", 100), failed("b", 1100), failed("c", 2100)] },
            ],
            expect: ["3000s backups-stopped since 2100s: no backup has succeeded for 48min"],
        },
    ];
    for (const testCase of cases) {
        it(testCase.name, () => {
            assert.deepStrictEqual(summary(testCase.steps), testCase.expect);
        });
    }

    it("a failure mail names the Job, its reason, its failed pods and how to read its log; one found in a status says so", () => {
        const [seen] = play(bFailed).made;
        assert.strictEqual(seen.job, "postgres-backup-b");
        assert.deepStrictEqual(seen.notes, [
            "Backup Job postgres-backup-b failed: Job has reached the specified backoff limit (2 pod(s) failed).",
            "Its log: kubectl -n workshop logs job/postgres-backup-b",
        ]);
        const [found] = play([{ second: 20, jobs: [kept] }, { second: 500, unseenSince: s(100), jobs: [kept, failed("b", 300)] }]).made;
        assert.strictEqual(found.notes[2], "Found in the Job's status: it failed at 1970-01-01T00:05:00.000Z, while the watcher was not watching (since 1970-01-01T00:01:40.000Z).");
    });

    it("the recovery mail sums up the incident; the stopped mail names the last success and the deadline", () => {
        const { made } = play(cases.find((testCase) => testCase.name.startsWith("a stopped incident"))!.steps);
        assert.deepStrictEqual(made.map((decision) => decision.notes), [
            [
                "The last successful backup Job, postgres-backup-a, finished at 1970-01-01T00:00:10.000Z.",
                "The schedule runs at least every 17min; an alert is due after twice that, at 1970-01-01T00:33:30.000Z.",
            ],
            [
                "The incident began at 1970-01-01T00:33:30.000Z (no backup has succeeded for 33min).",
                "During the incident: 1 further failed backup Job(s), not mailed one by one.",
                "Backup Job postgres-backup-c succeeded at 1970-01-01T00:49:55.000Z.",
            ],
        ]);
    });

    it("asks to be woken when the deadline passes, and not while its incident is mailed", () => {
        const { state } = play([{ second: 20, jobs: [kept] }]);
        assert.strictEqual(nextBackupCheckAt(state, INTERVAL), s(2010));
        assert.strictEqual(nextBackupCheckAt(initialBackupState(), INTERVAL), undefined, "no look yet");
        const mailed = play(bFailed).state;
        assert.strictEqual(nextBackupCheckAt(mailed, INTERVAL), undefined, "only a success ends it, and that is an event");
    });

    it("says lengths of time in a unit that suits them", () => {
        assert.deepStrictEqual([s(90), s(45 * 60), s(36 * 3600), s(2 * 86_400), s(3 * 86_400 + 3 * 3600)].map(duration), ["90s", "45min", "36h", "2d", "3.1d"]);
    });
});

describe("the backup Job facts the watcher reads", () => {
    const at = (time: string) => Date.parse(time);

    it("a failed Job: failed from its FailureTarget condition (the controller knew before the pods stopped), with the Failed condition's reason", () => {
        const view = jobView({
            metadata: { uid: "u", name: "postgres-backup-29012345", namespace: "workshop", creationTimestamp: "2026-11-24T02:15:00Z" },
            status: {
                failed: 2, conditions: [
                    { type: "FailureTarget", status: "True", reason: "BackoffLimitExceeded", lastTransitionTime: "2026-11-24T02:17:00Z" },
                    { type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", lastTransitionTime: new Date("2026-11-24T02:17:03Z") },
                ],
            },
        });
        assert.deepStrictEqual(view, {
            uid: "u", name: "postgres-backup-29012345", namespace: "workshop", createdAt: at("2026-11-24T02:15:00Z"), outcome: "failed",
            finishedAt: at("2026-11-24T02:17:00Z"), reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", failedPods: 2,
        });
    });

    it("a complete Job: succeeded at its completionTime; one whose pods still stop after a failure target: running", () => {
        const complete = jobView({ status: { completionTime: "2026-11-24T02:16:10Z", conditions: [{ type: "Complete", status: "True", lastTransitionTime: "2026-11-24T02:16:11Z" }] } });
        assert.strictEqual(complete.outcome, "succeeded");
        assert.strictEqual(complete.finishedAt, at("2026-11-24T02:16:10Z"));
        const stopping = jobView({ status: { conditions: [{ type: "FailureTarget", status: "True", lastTransitionTime: "2026-11-24T02:17:00Z" }] } });
        assert.deepStrictEqual([stopping.outcome, stopping.finishedAt], ["running", undefined]);
    });
});

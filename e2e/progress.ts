/**
 * What `npm run test:e2e` says while it works, so that a long step never looks like a hang: the
 * measured cost of the long steps before they start, the tool build's own lines as they come, and
 * a "still running" line for any step that has said nothing for a minute.
 *
 * Every figure here is a measurement with its date and conditions (docs/benchmarks.md,
 * e2e/tools/README.md); re-measure and update them together with the README.
 */
import * as fs from "fs";
import * as os from "os";

let lastOutput = Date.now();

/** Prints a line of the run's progress. */
export function say(line: string): void {
    console.log(line);
    lastOutput = Date.now();
}

/** A step that has said nothing for this long says that it is still running. */
export const QUIET_MS = 60_000;

/** "45 s", "4 min 10 s". */
export function duration(ms: number): string {
    const seconds = Math.round(ms / 1000);
    return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** The step's name up to its first colon: "tools", "cluster", "h. destroy keeps the namespace, …". */
export function shortName(step: string): string {
    const head = step.split(":")[0];
    return head.length > 60 ? `${head.slice(0, 59)}…` : head;
}

export function stillRunning(step: string, elapsedMs: number): string {
    return `      … ${shortName(step)}: still running, ${duration(elapsedMs)} so far`;
}

/** Says `stillRunning` whenever nothing was said for QUIET_MS while the step runs; returns the stop. */
export function whileRunning(step: string): () => void {
    const started = Date.now();
    const timer = setInterval(() => {
        if (Date.now() - lastOutput >= QUIET_MS) {
            say(stillRunning(step, Date.now() - started));
        }
    }, 5_000);
    timer.unref();
    return () => clearInterval(timer);
}

/** What a whole run costs once the tools exist, said first. */
export const RUN_COST = "27 steps on a node built here; with the tools and images built, a run took 548–634 s (2026-12-06, 2 cores, no other build running)";

const GIB = 1024 ** 3;
/**
 * The disk a cold tool build leaves: 13.3 GiB for the Pulumi and control-plane tools (2026-11-25),
 * at most 3.9 GiB for the node's (2026-12-06), and the 41 MiB stand-in built beside them.
 */
export const COLD_BUILD_BYTES = (13.3 + 3.9) * GIB + 41 * 1024 ** 2;

/** Free bytes on the file system of `dir` (or its nearest existing parent); undefined when it cannot be told. */
export function freeBytes(dir: string): number | undefined {
    for (let at = dir; ; at = at.slice(0, Math.max(1, at.lastIndexOf("/")))) {
        try {
            const stats = fs.statfsSync(at);
            return stats.bavail * stats.bsize;
        } catch {
            if (at === "/") {
                return undefined;
            }
        }
    }
}

/**
 * Said before e2e/tools/build.sh starts: the room a cold build needs against the room there is,
 * where go's own output goes, and how to skip the build. build.sh itself says, when it has tools to
 * build, what a cold build took where it was measured.
 */
export function toolsCostLines(options: { readonly free?: number; readonly home?: string; readonly log: string }): string[] {
    const home = options.home ?? os.homedir();
    const free = options.free === undefined ? "" : `; free under ${home} now: ${(options.free / GIB).toFixed(1)} GiB` +
        (options.free < COLD_BUILD_BYTES ? ", LESS than a cold build needs" : "");
    return [
        "find or build the pinned toolchain (e2e/tools/build.sh): seconds when this tree's tools are built already; otherwise the long part of a first run (build.sh says how long)",
        `a cold build needs about ${(COLD_BUILD_BYTES / GIB).toFixed(1)} GiB of Go caches and tools${free}`,
        `build.sh's lines follow as it prints them; go's own output goes to ${options.log}`,
        "to skip the build: E2E_TOOLS_BIN=<bin directory of built tools>, or E2E_KUBECONFIG=~/.kube/config with pulumi on PATH",
    ];
}

/** Said before the stand-in's `go build`, which is more than 10 s only the first time. */
export const STANDIN_COST = "build the PostgreSQL provider stand-in (go build of e2e/standins/postgresql): " +
    "27.8 s the first time on 2026-12-06 (load 4–6), 0.6–5 s once built (2026-11-25 and 2026-12-06)";

/**
 * The step runner of `npm run test:e2e` (each step printed with its time, skipped after a failure
 * unless it must always run), its closing count, and the project copy whose index.ts it runs as an
 * inline program.
 */
import * as fs from "fs";
import * as path from "path";
import { say, whileRunning } from "./progress";

const ROOT = path.resolve(__dirname, "..");

interface Outcome { readonly name: string; readonly ok: boolean; readonly seconds: number; readonly error?: string }
const outcomes: Outcome[] = [];
let failed = false;

export async function step(name: string, body: () => Promise<void>, always = false): Promise<void> {
    if (failed && !always) {
        outcomes.push({ name, ok: false, seconds: 0, error: "skipped: an earlier step failed" });
        say(`SKIP  ${name}`);
        return;
    }
    const started = Date.now();
    const stopHeartbeat = whileRunning(name);
    try {
        await body();
        const seconds = (Date.now() - started) / 1000;
        outcomes.push({ name, ok: true, seconds });
        say(`ok    ${name} (${seconds.toFixed(1)} s)`);
    } catch (error) {
        const seconds = (Date.now() - started) / 1000;
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        outcomes.push({ name, ok: false, seconds, error: message });
        say(`FAIL  ${name} (${seconds.toFixed(1)} s)\n${message.split("\n").map((line) => `      ${line}`).join("\n")}`);
    } finally {
        stopHeartbeat();
    }
}

/** The steps' count so far: whether all passed, their summed time, and the closing line `N passed, M failed[, K skipped]`. */
export function tally(): { readonly allPassed: boolean; readonly seconds: string; readonly closing: string } {
    const passed = outcomes.filter((o) => o.ok).length;
    const skipped = outcomes.filter((o) => o.error?.startsWith("skipped")).length;
    return {
        allPassed: passed === outcomes.length,
        seconds: outcomes.reduce((sum, o) => sum + o.seconds, 0).toFixed(1),
        closing: `${passed} passed, ${outcomes.length - passed - skipped} failed${skipped ? `, ${skipped} skipped` : ""}`,
    };
}

/** Copies the project (without node_modules, state, VCS or e2e) so a run can edit sql/ freely. */
export function copyProject(to: string): void {
    const skip = new Set(["node_modules", ".git", ".pulumi-state", "e2e"]);
    fs.cpSync(ROOT, to, { recursive: true, filter: (source) => !skip.has(path.relative(ROOT, source).split(path.sep)[0]) });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(to, "node_modules"));
}

/**
 * The project copy's index.ts, run in this process by the Automation API's own language runtime:
 * the Node.js language host (pulumi-language-nodejs) cannot be built here, since the Go module
 * proxy refuses github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (403). Each
 * operation loads the program afresh, as a new process would; `before` runs first in each (a stack
 * transformation, say).
 */
export function programIn(project: string, before?: () => void): () => Promise<Record<string, unknown>> {
    return async () => {
        for (const file of Object.keys(require.cache).filter((key) => key.startsWith(`${project}/`))) {
            delete require.cache[file];
        }
        before?.();
        return require(path.join(project, "index.ts"));
    };
}

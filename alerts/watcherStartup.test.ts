import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_BLIND_SECONDS } from "../alerting/src/watch/budget";
import { WATCHER_HEALTH_DIR } from "./alertSpec";
import { devStack } from "../testing/devStack";
import { runProgram } from "../testing/program";

/** Runs a probe command with `sh`, its health directory moved to `dir`, killed after `timeoutSeconds` as the kubelet would. */
function runProbe(command: string, dir: string, timeoutSeconds: number): { exit: Promise<number | null>; output: () => string } {
    const child = spawn("timeout", [String(timeoutSeconds), "sh", "-c", command.split(WATCHER_HEALTH_DIR).join(dir)]);
    let output = "";
    child.stdout.on("data", (chunk) => output += chunk);
    child.stderr.on("data", (chunk) => output += chunk);
    return { exit: new Promise((resolve) => child.on("exit", (code) => resolve(code))), output: () => output };
}

describe("the watcher's startup probe: no probe failure while it starts", () => {
    let startupProbe: any;
    let dir: string;
    /** A verdict as the watcher writes it: the epoch second until which it holds. */
    const verdict = (untilSeconds: number) => `${untilSeconds}\n`;
    const nowSeconds = () => Math.floor(Date.now() / 1000);

    before(async () => {
        const { config, secretKeys } = devStack();
        const run = await runProgram(config, secretKeys);
        startupProbe = run.deployment("pod-watcher").inputs.spec.template.spec.containers[0].startupProbe;
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "watcher-startup-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("waits inside one run as long as its period, and restarts a watcher that cannot watch only after the blind bound", () => {
        assert.strictEqual(startupProbe.timeoutSeconds, startupProbe.periodSeconds, "a run waits for as long as its period");
        const window = startupProbe.periodSeconds * startupProbe.failureThreshold;
        assert.ok(window > DEFAULT_BLIND_SECONDS, `the window (${window} s) lets a watcher that cannot watch mail that it is blind first`);
    });

    it("passes at once when the watcher says it is ready", async () => {
        fs.writeFileSync(path.join(dir, "ready"), verdict(nowSeconds() + 15));
        assert.strictEqual(await runProbe(startupProbe.exec.command[2], dir, 5).exit, 0);
    });

    it("keeps waiting, silently, while there is no verdict yet or only a lapsed one (a restarted container's emptyDir)", async () => {
        const lapsed = fs.mkdtempSync(path.join(dir, "lapsed-"));
        fs.writeFileSync(path.join(lapsed, "ready"), verdict(nowSeconds() - 60));
        const runs = [runProbe(startupProbe.exec.command[2], dir, 1), runProbe(startupProbe.exec.command[2], lapsed, 1)];
        assert.deepStrictEqual(await Promise.all(runs.map((run) => run.exit)), [124, 124], "still waiting when the timeout ends the run");
        assert.deepStrictEqual(runs.map((run) => run.output()), ["", ""], "no 'cannot open' for an event to quote");
    });

    it("passes once the watcher writes that it is ready", async () => {
        const run = runProbe(startupProbe.exec.command[2], dir, 10);
        fs.writeFileSync(path.join(dir, "ready.tmp"), verdict(nowSeconds() + 15));
        fs.renameSync(path.join(dir, "ready.tmp"), path.join(dir, "ready"));
        assert.strictEqual(await run.exit, 0);
    });
});

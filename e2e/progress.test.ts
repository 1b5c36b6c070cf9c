import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { lineSplitter, runStreaming } from "./processes";
import { COLD_BUILD_BYTES, duration, stillRunning, toolsCostLines } from "./progress";

describe("the e2e run's progress", () => {
    let dir = "";
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-progress-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("splits chunks into lines whatever the chunk boundaries", () => {
        const lines: string[] = [];
        const split = lineSplitter((line) => lines.push(line));
        for (const chunk of ["start pul", "umi v3\nbuilt pulumi 487s\r\nstart pulumi-resource-", "kubernetes\n", "/root/.cache/bin"]) {
            split.push(chunk);
        }
        assert.deepStrictEqual(lines, ["start pulumi v3", "built pulumi 487s", "start pulumi-resource-kubernetes"]);
        split.end();
        assert.deepStrictEqual(lines.pop(), "/root/.cache/bin", "the last line, without a newline, at the end");
    });

    it("shows a build's lines while it runs, not when it ends; its stderr goes to the log only", async () => {
        const log = path.join(dir, "tools-build.log");
        const seen: { line: string; at: number }[] = [];
        const script = "echo 'start   pulumi'; echo 'go: downloading a module' >&2; sleep 1; echo 'built   pulumi 1s'; echo /cache/bin";
        const stdout = await runStreaming("bash", ["-c", script], { logFile: log, onLine: (line) => seen.push({ line, at: Date.now() }) });
        const ended = Date.now();
        assert.deepStrictEqual(seen.map((s) => s.line), ["start   pulumi", "built   pulumi 1s", "/cache/bin"]);
        assert.ok(ended - seen[0].at >= 700, `the first line came ${ended - seen[0].at} ms before the end`);
        assert.strictEqual(stdout.trim().split("\n").pop(), "/cache/bin");
        assert.match(fs.readFileSync(log, "utf8"), /go: downloading a module/);
    });

    it("a failed build says where its whole output is, and ends with its stderr", async () => {
        const log = path.join(dir, "failed.log");
        await assert.rejects(runStreaming("bash", ["-c", "echo 'start   etcd'; echo 'go: module lookup disabled' >&2; exit 3"], { logFile: log, onLine: () => undefined }),
            (error: Error) => error.message.includes(`failed (3); its whole output is in ${log}`) && error.message.endsWith("go: module lookup disabled"));
    });

    it("says what a cold tool build costs, with the date and load of each figure, and warns when the disk is short", () => {
        const lines = toolsCostLines({ free: 50 * 1024 ** 3, home: "/home/ada", log: "/tmp/x/logs/tools-build.log" });
        const text = lines.join("\n");
        assert.match(text, /build\.sh says how long/);
        assert.match(text, /a cold build needs about 17\.2 GiB of Go caches and tools; free under \/home\/ada now: 50\.0 GiB$/m);
        assert.match(text, /E2E_TOOLS_BIN=/);
        assert.doesNotMatch(text, /LESS/);
        assert.match(toolsCostLines({ free: COLD_BUILD_BYTES - 1, log: "l" }).join("\n"), /LESS than a cold build needs/);
        assert.ok(lines.every((line) => !line.includes("\n")));
    });

    it("a silent step says which step and for how long", () => {
        assert.strictEqual(duration(45_400), "45 s");
        assert.strictEqual(duration(250_000), "4 min 10 s");
        assert.strictEqual(stillRunning("tools: find or build the pinned toolchain", 600_000), "      … tools: still running, 10 min 0 s so far");
    });
});

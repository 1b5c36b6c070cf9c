import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Candidate, candidate, LEGACY_QUIET_MS, makeRunDir, mountPointsUnder, OWNER_FILE, processesUsing, removeRunDir, verdict } from "./runDirs";
import { STARTED_AT } from "../testing/clock";

const NOW = STARTED_AT;
const ENDED: Candidate = { path: "/tmp/workshop-e2e-a1B2c3", kind: "directory", mine: true, owner: { pid: 4242, running: false }, usedBy: [], mounts: [], lastChangeMs: NOW - 60_000 };

describe("which e2e run directories `npm run test:e2e:clean` removes", () => {
    const rows: [string, Partial<Candidate>, RegExp | true][] = [
        ["a run directory whose run has ended", {}, true],
        ["its run still going", { owner: { pid: 4242, running: true } }, /^its run \(pid 4242\) is still going$/],
        ["a process still in it (etcd left by an interrupted run)", { usedBy: ["pid 77 (etcd --data-dir /tmp/workshop-e2e-a1B2c3/cluster/etcd)"] },
            /^in use by pid 77 \(etcd --data-dir .*\) \(stop them first\)$/],
        ["a mount inside", { mounts: ["/tmp/workshop-e2e-a1B2c3/node/rootfs"] }, /^mounts inside: .*rootfs \(unmount them first: umount -R <path>\)$/],
        ["another user's", { mine: false }, /^another user's$/],
        ["a symbolic link named like one", { kind: "symlink" }, /^a symbolic link, not a run directory$/],
        ["a file named like one", { kind: "other" }, /^a file, not a run directory$/],
        ["a name that only starts like one", { path: "/tmp/workshop-e2e-a1B2c3-notes" }, /^not named like a run directory$/],
        ["another program's directory", { path: "/tmp/workshop-other-a1B2c3" }, /^not named like a run directory$/],
        ["no owner file, changed an hour ago (a run of an older runner may be building its tools)", { owner: undefined, lastChangeMs: NOW - 3_600_000 },
            /^made before runs recorded their owner, and changed 60 min ago: .* 2 h\)$/],
        ["no owner file, unchanged for longer than that", { owner: undefined, lastChangeMs: NOW - LEGACY_QUIET_MS - 1 }, true],
    ];
    for (const [what, change, expected] of rows) {
        it(`${what}: ${expected === true ? "removed" : "kept"}`, () => {
            const decision = verdict({ ...ENDED, ...change }, NOW);
            if (expected === true) {
                assert.deepStrictEqual(decision, { remove: true });
            } else {
                assert.ok(!decision.remove);
                assert.match(decision.why, expected);
            }
        });
    }

    it("reads mount points from mountinfo, escapes undone, and only at or under the directory", () => {
        const mountinfo = [
            "22 1 0:21 / /tmp rw,nosuid - tmpfs tmpfs rw",
            "31 22 0:40 / /tmp/workshop-e2e-a1B2c3/node/rootfs rw - overlay overlay rw",
            "32 22 0:41 / /tmp/workshop-e2e-a1B2c3/pods/with\\040space rw - tmpfs tmpfs rw",
            "33 22 0:42 / /tmp/workshop-e2e-a1B2c3x rw - tmpfs tmpfs rw",
            "",
        ].join("\n");
        assert.deepStrictEqual(mountPointsUnder(mountinfo, "/tmp/workshop-e2e-a1B2c3"),
            ["/tmp/workshop-e2e-a1B2c3/node/rootfs", "/tmp/workshop-e2e-a1B2c3/pods/with space"]);
    });
});

describe("removing an e2e run directory never reaches outside it", () => {
    let sandbox = "";
    beforeEach(() => {
        sandbox = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "e2e-run-dirs-")));
    });
    afterEach(() => fs.rmSync(sandbox, { recursive: true, force: true }));

    it("removes the tree, its read-only directories too, and links as links: their targets stay", () => {
        const outside = path.join(sandbox, "node_modules");
        fs.mkdirSync(path.join(outside, "pkg"), { recursive: true });
        fs.writeFileSync(path.join(outside, "pkg", "index.js"), "module.exports = 1;\n");
        const run = makeRunDir(sandbox);
        fs.mkdirSync(path.join(run, "project"));
        fs.symlinkSync(outside, path.join(run, "project", "node_modules"));
        fs.symlinkSync(path.join(outside, "pkg", "index.js"), path.join(run, "project", "index.js"));
        fs.mkdirSync(path.join(run, "pulumi-home", "plugins", "locked"), { recursive: true });
        fs.writeFileSync(path.join(run, "pulumi-home", "plugins", "locked", "plugin"), Buffer.alloc(4096));
        fs.chmodSync(path.join(run, "pulumi-home", "plugins", "locked"), 0o500);
        const freed = removeRunDir(run);
        assert.ok(!fs.existsSync(run), "the run directory is gone");
        assert.ok(freed >= 4096);
        assert.strictEqual(fs.readFileSync(path.join(outside, "pkg", "index.js"), "utf8"), "module.exports = 1;\n", "the link's target is untouched");
    });

    it("refuses a link named like a run directory, and anything not named like one", () => {
        const target = path.join(sandbox, "precious");
        fs.mkdirSync(target);
        fs.writeFileSync(path.join(target, "keep"), "");
        const link = path.join(sandbox, "workshop-e2e-Lk9abc");
        fs.symlinkSync(target, link);
        assert.throws(() => removeRunDir(link), /is not a run directory/);
        assert.throws(() => removeRunDir(target), /is not a run directory/);
        assert.strictEqual(candidate(link, []).kind, "symlink");
        assert.ok(fs.existsSync(path.join(target, "keep")));
    });

    it("tells a running owner from an ended one by pid and start time", () => {
        const run = makeRunDir(sandbox);
        assert.deepStrictEqual(candidate(run, []).owner, { pid: process.pid, running: true }, "this process owns it");
        const ended = spawnSync(process.execPath, ["-e", ""]);
        assert.ok(ended.pid);
        fs.writeFileSync(path.join(run, OWNER_FILE), JSON.stringify({ pid: ended.pid, started: "1" }));
        assert.deepStrictEqual(candidate(run, []).owner, { pid: ended.pid, running: false });
        fs.writeFileSync(path.join(run, OWNER_FILE), JSON.stringify({ pid: process.pid, started: "1" }));
        assert.strictEqual(candidate(run, [])?.owner?.running, false, "a reused pid is not the owner");
    });

    it("finds a process whose working directory is inside the run directory", async () => {
        const run = makeRunDir(sandbox);
        fs.mkdirSync(path.join(run, "cluster"));
        const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { cwd: path.join(run, "cluster"), stdio: "ignore" });
        try {
            await new Promise((resolve) => child.once("spawn", resolve));
            const users = processesUsing([run, sandbox + "/workshop-e2e-other1"]).get(run) ?? [];
            assert.ok(users.some((user) => user.startsWith(`pid ${child.pid} `)), users.join("\n"));
            assert.ok(!verdict(candidate(run, users), Date.now()).remove);
        } finally {
            child.kill("SIGKILL");
        }
    });
});

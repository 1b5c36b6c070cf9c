import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DATA_MOUNT, IMAGE_ENTRYPOINT, postgresContainer, SERVER_LOCK, SERVER_LOCK_SCRIPT, serverCommand } from "./postgresSpec";

const ARGS = {
    instance: "postgres", image: "postgres:18.1", resources: { requests: {}, limits: {} } as any,
    settingsConfigMap: "settings", credentialsSecret: "credentials", dataClaim: "postgres-data",
};

/** The script with its lock file in `dir`, as PID 1 would run it: `sh -c SCRIPT server-lock COMMAND...`. */
function runLocked(dir: string, command: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const script = SERVER_LOCK_SCRIPT.split(SERVER_LOCK).join(path.join(dir, ".postmaster.lock"));
    const child = spawn("sh", ["-c", script, "server-lock", ...command], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (chunk) => { output += chunk; });
    child.stderr!.on("data", (chunk) => { output += chunk; });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
    return { child, output: () => output, exited };
}

const lockFree = (dir: string) => spawnSync("flock", ["-n", path.join(dir, ".postmaster.lock"), "true"]).status === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the server lock on the data volume", function () {
    this.timeout(20_000);
    let dir: string;
    beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "server-lock-")); });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("keeps the image's entrypoint and command as the container's args, behind the lock script as PID 1", () => {
        assert.deepStrictEqual(IMAGE_ENTRYPOINT, ["docker-entrypoint.sh", "postgres"]);
        const container: any = postgresContainer(ARGS);
        assert.deepStrictEqual(container.args.slice(0, 2), ["docker-entrypoint.sh", "postgres"]);
        assert.deepStrictEqual(container.command, ["sh", "-c", SERVER_LOCK_SCRIPT, "server-lock"]);
        assert.deepStrictEqual(serverCommand(), { command: container.command, args: container.args });
        // Beside PGDATA on the volume, not in it (initdb wants it empty), and not on the read-only root.
        assert.strictEqual(path.dirname(SERVER_LOCK), DATA_MOUNT);
        assert.ok(container.volumeMounts.some((m: any) => m.mountPath === DATA_MOUNT && m.name === "data"));
        // The server replaces the script: PID 1 is the postmaster, holding fd 9.
        assert.match(SERVER_LOCK_SCRIPT, /exec 9>>/);
        assert.match(SERVER_LOCK_SCRIPT, /\nexec "\$@"$/);
    });

    it("runs the server with restart_after_crash=off: a backend's crash ends the container, which the kubelet restarts and reports", () => {
        const container: any = postgresContainer(ARGS);
        // The entrypoint passes options after "postgres" on to the server (and to its temporary initdb server).
        assert.deepStrictEqual(container.args, ["docker-entrypoint.sh", "postgres", "-c", "restart_after_crash=off"]);
    });

    it("execs the command at once, with the lock held by it (not by a shell left behind) until it exits", async () => {
        const run = runLocked(dir, ["sleep", "1.5"]);
        await sleep(500);
        assert.match(fs.readFileSync(`/proc/${run.child.pid}/cmdline`, "utf8"), /^sleep\0/, "the script execs its command: same PID");
        assert.strictEqual(lockFree(dir), false, "the command holds the lock");
        assert.match(run.output(), /acquired; starting the server/);
        assert.doesNotMatch(run.output(), /waiting/);
        assert.strictEqual(await run.exited, 0);
        assert.strictEqual(lockFree(dir), true, "released when the command exits");
    });

    it("keeps the lock while a child of the server (a backend) outlives it, and the next server starts only after both", async () => {
        // The "server" forks a "backend" that inherits fd 9 and outlives it by a second.
        const old = runLocked(dir, ["sh", "-c", "sleep 1.5 & exit 0"]);
        assert.strictEqual(await old.exited, 0);
        const next = runLocked(dir, ["sh", "-c", "date +%s%N"]);
        await sleep(500);
        assert.match(next.output(), /held by another server on this volume; waiting for it to exit/);
        assert.doesNotMatch(next.output(), /acquired/);
        assert.strictEqual(await next.exited, 0);
        assert.match(next.output(), /acquired; starting the server/);
    });

    it("a stop signal ends the wait (PID 1 would ignore it otherwise), and the lock stays with its holder", async () => {
        const holder = spawn("flock", ["-o", path.join(dir, ".postmaster.lock"), "sleep", "5"], { stdio: "ignore" });
        await sleep(300);
        const waiting = runLocked(dir, ["true"]);
        await sleep(500);
        assert.match(waiting.output(), /waiting for it to exit/);
        waiting.child.kill("SIGINT");
        assert.strictEqual(await waiting.exited, 143);
        assert.doesNotMatch(waiting.output(), /acquired/);
        assert.strictEqual(lockFree(dir), false);
        holder.kill("SIGKILL");
        await new Promise((resolve) => holder.once("exit", resolve));
        await sleep(100);
        assert.strictEqual(lockFree(dir), true, "no waiter left behind holds it");
    });
});

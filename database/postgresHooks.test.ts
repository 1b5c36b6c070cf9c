import * as assert from "assert";
import * as fs from "fs";
import { Client } from "pg";
import { devStack } from "../testing/devStack";
import {
    containersUnavailable, imageUnavailable, materialise, Materialised, POSTGRES_IMAGE, RunningContainer, startContainer,
} from "../testing/kubelet";
import { runProgram } from "../testing/program";

const POD = { name: "postgres-5f7c9d-x2k4q", node: "kind-worker", ip: "10.244.0.12" };
/** Stops of the current preStop hook, each of which must end with status 0; the old hook failed on most. */
const STOPS = 10;
/** Stops of the old hook, of which at least one must be killed for the set-up to show the fault. */
const OLD_STOPS = 3;

/**
 * Stand-in for the image's entrypoint on an empty volume: initdb as it calls it, then its pg_hba.conf
 * line for other addresses, the listen address and socket directory of the image's build, and the
 * POSTGRES_DB database. Only --no-sync and fsync = off are ours, for speed: durability is not under
 * test here.
 */
const INIT_STAND_IN = [
    "set -e",
    "printf '%s\\n' \"$POSTGRES_PASSWORD\" | initdb --username=\"$POSTGRES_USER\" --pwfile=/dev/stdin $POSTGRES_INITDB_ARGS --no-sync >/dev/null",
    "printf '\\nhost all all all scram-sha-256\\n' >>\"$PGDATA/pg_hba.conf\"",
    "printf \"listen_addresses = '*'\\nunix_socket_directories = '/var/run/postgresql'\\nfsync = off\\n\" >>\"$PGDATA/postgresql.conf\"",
    "echo 'CREATE DATABASE \"'\"$POSTGRES_DB\"'\"' | postgres --single -D \"$PGDATA\" postgres >/dev/null",
].join("\n");

/** Command lines that contain the text, of every process on this machine or of those in a PID namespace. */
function commandLinesWith(text: string, pidNamespace?: string): string[] {
    return fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
        try {
            const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
            const inNamespace = pidNamespace === undefined || fs.readlinkSync(`/proc/${pid}/ns/pid`) === pidNamespace;
            return commandLine.includes(text) && inNamespace ? [commandLine] : [];
        } catch {
            return []; // the process has exited meanwhile
        }
    });
}

/**
 * Another container of the pod: its own files (the host's psql) and user (the sidecar's uid 1000),
 * the pod's loopback, connecting as the superuser with this password, or none.
 */
function neighbourLogin(server: RunningContainer, password?: string) {
    return server.execNeighbour(1000, ["psql", "-X", "-w", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"],
        { PATH: "/usr/lib/postgresql/15/bin:/usr/bin:/bin", ...(password === undefined ? {} : { PGPASSWORD: password }) });
}

describe("the PostgreSQL container's hooks and probes, run as a runtime runs them", function () {
    this.timeout(60_000);
    let pod: Materialised;
    let password: string;
    const started: RunningContainer[] = [];

    before(async function () {
        const unavailable = containersUnavailable() ?? imageUnavailable(POSTGRES_IMAGE);
        if (unavailable) {
            console.log(`      skipped: ${unavailable}`);
            this.skip();
        }
        const { config, secretKeys } = devStack();
        const run = await runProgram(config, secretKeys);
        pod = materialise(run, run.deployment("postgres"), "postgres", POD);
        password = pod.env.POSTGRES_PASSWORD;
        const init = await startContainer(pod, POSTGRES_IMAGE, { command: ["/bin/sh", "-c", INIT_STAND_IN] });
        assert.deepStrictEqual(await init.exited, { code: 0, signal: null }, init.log());
    });
    // A failed assertion must not leave a server running.
    afterEach(() => Promise.all(started.splice(0).map((container) => container.kill())));
    after(() => pod?.cleanup());

    /** Starts the server as PID 1 in the pod's network, with the declared container or another declaration of it. */
    async function start(declared = pod, env?: Record<string, string>): Promise<RunningContainer> {
        const server = await startContainer(declared, POSTGRES_IMAGE, { podNetwork: true, env });
        started.push(server);
        await server.logMatch(/database system is ready to accept connections/);
        return server;
    }

    it("only the socket is trusted: another container of the pod needs the password on loopback, and the probes pass", async () => {
        const server = await start();
        try {
            const anonymous = await neighbourLogin(server);
            assert.notStrictEqual(anonymous.code, 0, "a superuser session without a password");
            assert.match(anonymous.stderr, /no password supplied/);
            assert.strictEqual((await neighbourLogin(server, password)).code, 0, "with the password");
            for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
                const spec = pod.container[probe];
                const result = await server.exec(spec.exec.command, spec.timeoutSeconds);
                assert.strictEqual(result.code, 0, `${probe}: ${result.stderr}`);
            }
        } finally {
            await server.stop();
        }
    });

    it(`postStart exits 0 on each start, and preStop exits 0 with a clean shutdown on each of ${STOPS} stops`, async () => {
        for (let stop = 1; stop <= STOPS; stop++) {
            const server = await start();
            const postStart = await server.exec(pod.container.lifecycle.postStart.exec.command);
            assert.strictEqual(postStart.code, 0, `start ${stop}: postStart: ${postStart.stderr}`);
            assert.doesNotMatch(server.log(), /not properly shut down|automatic recovery/, `start ${stop} found an unclean shutdown`);
            const { preStop, exit } = await server.stop();
            assert.deepStrictEqual({ code: preStop?.code, signal: preStop?.signal }, { code: 0, signal: null }, `stop ${stop}: preStop: ${preStop?.stderr}`);
            assert.deepStrictEqual(exit, { code: 0, signal: null }, `stop ${stop}: PID 1`);
            assert.match(server.log(), /database system is shut down/);
        }
    });

    it("the old preStop, which waited for the server, is killed with PID 1 in this set-up", async () => {
        const old = { ...pod, container: { ...pod.container, lifecycle: { ...pod.container.lifecycle,
            preStop: { exec: { command: ["sh", "-c", "exec pg_ctl stop -D \"$PGDATA\" -m fast -w -t 30"] } } } } };
        const hookSignals: (NodeJS.Signals | null | undefined)[] = [];
        for (let stop = 1; stop <= OLD_STOPS; stop++) {
            const { preStop, exit } = await (await start(old)).stop();
            hookSignals.push(preStop?.signal);
            assert.deepStrictEqual(exit, { code: 0, signal: null }, "the shutdown itself is clean");
        }
        assert.ok(hookSignals.includes("SIGKILL"), `the old hook was never killed: ${hookSignals.join(", ")}`);
    });

    it("a second server on the volume, in PID and IPC namespaces of its own, waits for the lock until the first has exited", async () => {
        const first = await start();
        const secondStarted = Date.now();
        const second = await startContainer(pod, POSTGRES_IMAGE, { podNetwork: true });
        started.push(second);
        await second.logMatch(/held by another server on this volume; waiting for it to exit/);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        assert.doesNotMatch(second.log(), /acquired|starting PostgreSQL|ready to accept/, "the second server started beside the first");
        const probe = await second.exec(pod.container.startupProbe.exec.command, pod.container.startupProbe.timeoutSeconds);
        assert.notStrictEqual(probe.code, 0, "the startup probe fails while it waits");
        const { exit } = await first.stop();
        const firstExited = Date.now();
        assert.deepStrictEqual(exit, { code: 0, signal: null });
        await second.logMatch(/database system is ready to accept connections/);
        assert.doesNotMatch(second.log(), /not properly shut down|automatic recovery/, "the first server's shutdown was complete");
        assert.ok(firstExited - secondStarted >= 1000);
        await second.stop();
    });

    it("postStart applies a changed password with it on no command line and not in the server log", async () => {
        const changed = `it's a "new" pass\\word; DROP TABLE x; --`;
        const server = await start(pod, { POSTGRES_PASSWORD: changed });
        const superuser = new Client({ host: pod.mounts["/var/run/postgresql"], user: "postgres", database: "postgres" });
        await superuser.connect();
        try {
            // Log every statement, and the statement of a lock wait, to show that the hook's session keeps it out.
            await superuser.query("ALTER SYSTEM SET log_statement = 'all'");
            await superuser.query("ALTER SYSTEM SET log_lock_waits = on");
            await superuser.query("ALTER SYSTEM SET deadlock_timeout = '10ms'");
            await superuser.query("SELECT pg_reload_conf()");
            // Hold the role's row, so that the hook waits inside ALTER ROLE while its processes are looked at.
            await superuser.query("BEGIN");
            await superuser.query("ALTER ROLE postgres CONNECTION LIMIT -1");
            const postStart = server.exec(pod.container.lifecycle.postStart.exec.command);
            await server.logMatch(/still waiting for ShareLock/);
            const inContainer = commandLinesWith("psql", fs.readlinkSync(`/proc/${server.pid}/ns/pid`));
            assert.ok(inContainer.some((commandLine) => commandLine.startsWith("psql ")), "the hook's psql is running");
            assert.deepStrictEqual(commandLinesWith(changed), []);
            await superuser.query("ROLLBACK");
            const result = await postStart;
            assert.strictEqual(result.code, 0, result.stderr);
            assert.strictEqual((await neighbourLogin(server, changed)).code, 0, "the new password works");
            assert.notStrictEqual((await neighbourLogin(server, password)).code, 0, "the old one does not");
            // There it would stand as a SQL literal, quotes and backslashes doubled; a fragment shows it all the same.
            assert.doesNotMatch(server.log(), /WITH PASSWORD|DROP TABLE x/, "the password is in the server log");
        } finally {
            await superuser.query("ROLLBACK").catch(() => undefined);
            await superuser.query("ALTER SYSTEM RESET ALL");
            await superuser.end();
            await server.stop();
        }
    });
});

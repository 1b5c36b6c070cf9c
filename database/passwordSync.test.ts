import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { Client } from "pg";
import { SYNC_PASSWORD_SCRIPT } from "./postgresSpec";
import { clockEnv } from "../testing/clock";
import { startPostgres, SUPERUSER, TestServer } from "../testing/embeddedPostgres";

function hasPsql(): boolean {
    try {
        execFileSync("psql", ["--version"], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

describe("the postStart hook that applies a changed password", function () {
    this.timeout(60_000);
    let server: TestServer;

    before(async function () {
        if (!hasPsql()) {
            // The hook runs the image's psql; without a psql client here there is nothing to run it with.
            this.skip();
        }
        server = await startPostgres();
    });
    after(async () => {
        await server?.stop();
    });

    it("sets the superuser's password to POSTGRES_PASSWORD, quotes and all", async () => {
        const old = server.connection("postgres");
        const newPassword = `it's a "new" pass\\word; DROP TABLE x; --`;
        // In the pod psql reaches the server over the local socket; here PGHOST/PGPORT point it at the test server.
        const run = spawnSync("sh", ["-c", SYNC_PASSWORD_SCRIPT], {
            env: { ...clockEnv(), PATH: process.env.PATH, POSTGRES_USER: SUPERUSER, POSTGRES_PASSWORD: newPassword, PGHOST: old.host, PGPORT: String(old.port), PGPASSWORD: old.password },
            encoding: "utf8",
            timeout: 20_000,
        });
        assert.strictEqual(run.status, 0, run.stderr);
        const client = new Client({ ...old, password: newPassword });
        await client.connect();
        await client.end();
        await assert.rejects(async () => {
            const stale = new Client(old);
            await stale.connect();
        }, /password authentication failed/);
    });
});

/**
 * The server's TLS against a real PostgreSQL 18: the stack's pg_hba.conf and server arguments, with a
 * certificate from its builders and the key mounted as the pod mounts it, and the clients as the
 * stack configures them: node-postgres as the SQL runner does, libpq (psql) as the backup Job does.
 * The server listens on 127.0.0.1, which is where the API server's port-forward, the deploying
 * machine's tunnel, arrives inside the pod: so a refusal here is a refusal through the tunnel.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HBA_FILE, HBA_MOUNT, PG_HBA, TLS_CERT, TLS_KEY, TLS_KEY_MODE, TLS_MOUNT, tlsServerArgs } from "../database/tlsSpec";
import { Connection, recordedFiles } from "../schema/migrationRunner";
import { clockEnv, STARTED_AT } from "../testing/clock";
import { queryOnce, startPostgres, TestServer } from "../testing/embeddedPostgres";
import { testCa, testServerCertificate } from "../testing/tlsFixture";
import { issueCa, serverNames } from "./certificates";

const SERVICE_HOST = "postgres.workshop.svc.cluster.local";

/** Mounts the key as the kubelet does under the pod's fsGroup: root's, readable by the server's group, TLS_KEY_MODE; as a user, the user's own with 0600. */
function mountKey(file: string, key: string, dir: string): void {
    fs.writeFileSync(file, key, { mode: 0o600 });
    if (process.getuid?.() === 0) {
        const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
        fs.chownSync(dir, 0, gid);
        fs.chmodSync(dir, 0o750);
        fs.chownSync(file, 0, gid);
        fs.chmodSync(file, TLS_KEY_MODE);
    }
}

describe("TLS on a real PostgreSQL, with the stack's pg_hba.conf and certificate", function () {
    this.timeout(60_000);
    let server: TestServer;
    let root: string;
    let caFile: string;
    const ca = testCa();

    before(async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "server-tls-"));
        fs.chmodSync(root, 0o755);
        const tlsDir = path.join(root, "tls");
        const hbaDir = path.join(root, "hba");
        fs.mkdirSync(tlsDir);
        fs.mkdirSync(hbaDir, { mode: 0o755 });
        const issued = testServerCertificate(serverNames("postgres", "workshop"));
        fs.writeFileSync(path.join(tlsDir, TLS_CERT), issued.certificate, { mode: 0o644 });
        mountKey(path.join(tlsDir, TLS_KEY), issued.privateKey, tlsDir);
        fs.writeFileSync(path.join(hbaDir, HBA_FILE), PG_HBA, { mode: 0o644 });
        caFile = path.join(root, "ca.crt");
        fs.writeFileSync(caFile, ca.certificate, { mode: 0o644 });
        // The pod's arguments, with the mount paths where this test put the files.
        server = await startPostgres({ postgresFlags: tlsServerArgs().map((arg) => arg.replace(TLS_MOUNT, tlsDir).replace(HBA_MOUNT, hbaDir)) });
    });
    after(async () => {
        await server?.stop();
        fs.rmSync(root, { recursive: true, force: true });
    });

    /** The superuser's connection as the SQL runner makes it. */
    const runner = (changes: Partial<Connection>): Connection => ({ ...server.connection("postgres"), sslMode: "verify-full", ca: ca.certificate, ...changes });

    it("the SQL runner's verify-full with the stack's CA connects to 127.0.0.1 over TLS", async () => {
        assert.deepStrictEqual(await recordedFiles(runner({}), "workshop"), []);
        assert.deepStrictEqual(await recordedFiles(runner({ sslMode: "verify-ca" }), "workshop"), []);
    });

    it("refuses a connection without TLS from the address the tunnel arrives from", async () => {
        await assert.rejects(recordedFiles(runner({ sslMode: "disable" }), "workshop"),
            /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ .*pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "postgres", database "postgres", no encryption/);
    });

    it("fails verify-full against a server whose certificate another CA signed", async () => {
        const stranger = issueCa("another CA", new Date(STARTED_AT));
        await assert.rejects(recordedFiles(runner({ ca: stranger.certificate }), "workshop"), /cannot connect .*unable to verify the first certificate/);
        await assert.rejects(recordedFiles(runner({ ca: undefined }), "workshop"), /cannot connect .*unable to verify the first certificate/,
            "nor does it trust the system's CAs");
    });

    it("loads exactly the stack's rules: the socket trusted, TCP only with TLS and the password", async () => {
        const rules = await queryOnce(runner({}), "SELECT type, database, user_name, address, auth_method, error FROM pg_hba_file_rules ORDER BY rule_number");
        assert.deepStrictEqual(rules, [
            { type: "local", database: ["all"], user_name: ["all"], address: null, auth_method: "trust", error: null },
            { type: "hostssl", database: ["all"], user_name: ["all"], address: "all", auth_method: "scram-sha-256", error: null },
            { type: "hostnossl", database: ["all"], user_name: ["all"], address: "all", auth_method: "reject", error: null },
        ]);
        const [ssl] = await queryOnce(runner({}), "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        assert.strictEqual(ssl.ssl, true);
        assert.match(ssl.version, /^TLSv1\.[23]$/);
    });

    it("libpq, as the backup Job runs it (PGSSLMODE verify-full, the CA's file, the Service's name), connects; without TLS it is refused", function () {
        const psql = spawnSync("which", ["psql"], { encoding: "utf8" }).stdout.trim();
        if (psql === "") {
            this.skip();
        }
        // PGHOSTADDR connects to this server while libpq checks the certificate against PGHOST, the Service's name.
        // The test's clock too: libpq checks the certificate's dates, which the tests' clock set.
        const env = {
            ...clockEnv(), PATH: process.env.PATH ?? "", PGHOST: SERVICE_HOST, PGHOSTADDR: "127.0.0.1", PGPORT: String(server.port), PGUSER: "postgres",
            PGPASSWORD: runner({}).password, PGDATABASE: "postgres", PGSSLMODE: "verify-full", PGSSLROOTCERT: caFile, PGCONNECT_TIMEOUT: "10",
        };
        const verified = spawnSync(psql, ["-X", "-At", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"], { env, encoding: "utf8" });
        assert.strictEqual(verified.status, 0, verified.stderr);
        assert.strictEqual(verified.stdout.trim(), "t");
        const plaintext = spawnSync(psql, ["-X", "-At", "-c", "SELECT 1"], { env: { ...env, PGSSLMODE: "disable" }, encoding: "utf8" });
        assert.notStrictEqual(plaintext.status, 0);
        assert.match(plaintext.stderr, /pg_hba\.conf rejects connection for host "127\.0\.0\.1".*no encryption/);
        const wrongName = spawnSync(psql, ["-X", "-At", "-c", "SELECT 1"], { env: { ...env, PGHOST: "postgres.elsewhere.svc" }, encoding: "utf8" });
        assert.notStrictEqual(wrongName.status, 0);
        assert.match(wrongName.stderr, /server certificate for "[^"]+" \(and 5 other names\) does not match host name "postgres\.elsewhere\.svc"/);
    });
});

import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { SqlMigrationsInputs, sqlMigrationsProvider } from "./sqlMigrations";
import { Client } from "pg";
import { applySqlFiles, LEDGER_ACCESS, recordedFiles } from "./migrationRunner";
import { readSqlFiles } from "./sqlFiles";
import { sqlFile } from "./sqlPlan";
import { startPostgres, TestServer } from "../testing/embeddedPostgres";

const SCHEMA = "workshop";
const REPO_FILES = readSqlFiles(path.resolve(__dirname, "../sql"));

describe("applying sql/ to a real PostgreSQL", function () {
    this.timeout(60_000);
    let server: TestServer;
    let databaseCount = 0;

    /** A fresh database per test, with the challenge's upper-case name plus a suffix. */
    async function freshDatabase(): Promise<string> {
        const name = `WORKSHOP${databaseCount++ === 0 ? "" : `_${databaseCount}`}`;
        await server.createDatabase(name);
        return name;
    }

    before(async () => {
        server = await startPostgres();
    });
    after(async () => {
        await server?.stop();
    });

    it("first apply creates the table and its row in the database named exactly WORKSHOP", async () => {
        const database = await freshDatabase();
        assert.strictEqual(database, "WORKSHOP");
        const result = await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        assert.deepStrictEqual(result.applied, ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        const [where] = await server.query(database, "SELECT current_database() AS db");
        assert.strictEqual(where.db, "WORKSHOP");
        const lowerCase = await server.query("postgres", "SELECT 1 FROM pg_database WHERE datname = 'workshop'");
        assert.strictEqual(lowerCase.length, 0, "no lower-case twin was created");
        const rows = await server.query(database, "SELECT full_name, email, role FROM workshop.attendees");
        assert.deepStrictEqual(rows, [{ full_name: "Ada Lovelace", email: "ada.lovelace@example.com", role: "speaker" }]);
    });

    it("the table enforces its constraints", async () => {
        const database = await freshDatabase();
        await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        await assert.rejects(server.query(database, "INSERT INTO workshop.attendees (full_name, email) VALUES ('X', 'not-an-email')"), /check constraint/);
        await assert.rejects(server.query(database, "INSERT INTO workshop.attendees (full_name, email) VALUES ('Ada', 'ADA.LOVELACE@example.com')"), /duplicate key/);
        await assert.rejects(server.query(database, "INSERT INTO workshop.attendees (full_name, email, role) VALUES ('Y', 'y@example.com', 'guest')"), /check constraint/);
    });

    it("a second apply changes nothing", async () => {
        const database = await freshDatabase();
        const first = await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        const second = await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        assert.deepStrictEqual(second.applied, []);
        assert.deepStrictEqual(second.recorded, first.recorded);
        const [count] = await server.query(database, "SELECT count(*)::int AS n FROM workshop.attendees");
        assert.strictEqual(count.n, 1);
    });

    it("an added file applies alone on the next run", async () => {
        const database = await freshDatabase();
        await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        const added = sqlFile("003_add_dietary_needs.sql", "ALTER TABLE attendees ADD COLUMN dietary_needs text;");
        const result = await applySqlFiles(server.connection(database), SCHEMA, [...REPO_FILES, added]);
        assert.deepStrictEqual(result.applied, ["003_add_dietary_needs.sql"]);
        const columns = await server.query(database, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'workshop' AND table_name = 'attendees' AND column_name = 'dietary_needs'");
        assert.strictEqual(columns.length, 1);
    });

    it("a broken file rolls back whole and the error names the file and the line", async () => {
        const database = await freshDatabase();
        await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        const broken = sqlFile("003_sessions.sql", "CREATE TABLE sessions (id int PRIMARY KEY);\n\nINSERT INTO sessions\n  VALUES (1), ('two');\n");
        await assert.rejects(applySqlFiles(server.connection(database), SCHEMA, [...REPO_FILES, broken]),
            /^MigrationError: sql\/003_sessions\.sql: line 4, statement 2 \(INSERT INTO sessions\): invalid input syntax for type integer: "two"; the file was rolled back/);
        const sessions = await server.query(database, "SELECT to_regclass('workshop.sessions') AS t");
        assert.strictEqual(sessions[0].t, null, "the file's first statement was rolled back too");
        assert.deepStrictEqual((await recordedFiles(server.connection(database), SCHEMA)).map((f) => f.name), ["001_create_attendees.sql", "002_seed_attendees.sql"]);
    });

    it("a syntax error is reported at its own line", async () => {
        const database = await freshDatabase();
        const broken = sqlFile("001_typo.sql", "-- a comment\nCREATE TABLE t (\n  id int,\n  name txet\n);");
        await assert.rejects(applySqlFiles(server.connection(database), SCHEMA, [broken]), /sql\/001_typo\.sql: line 4, statement 1 .*type "txet" does not exist/);
    });

    it("an applied file that was edited is refused, and nothing runs", async () => {
        const database = await freshDatabase();
        await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        const edited = [sqlFile(REPO_FILES[0].name, `${REPO_FILES[0].sql}\n-- edited`), REPO_FILES[1], sqlFile("003_x.sql", "CREATE TABLE x (id int);")];
        await assert.rejects(applySqlFiles(server.connection(database), SCHEMA, edited), /sql\/001_create_attendees\.sql was edited after it was applied/);
        const created = await server.query(database, "SELECT to_regclass('workshop.x') AS t");
        assert.strictEqual(created[0].t, null);
    });

    it("a wrong password fails with the address and database, never the password", async () => {
        const connection = { ...server.connection("WORKSHOP"), password: "wrong-password-value" };
        await assert.rejects(applySqlFiles(connection, SCHEMA, REPO_FILES), (error: Error) =>
            /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ database "WORKSHOP" as postgres/.test(error.message) && !error.message.includes("wrong-password-value"));
    });

    it("the application role, granted read and write on every table of the schema, can neither read nor change the ledger", async () => {
        const database = await freshDatabase();
        const app = { ...server.connection(database), user: "ledger_test_app", password: "app-password" };
        // The schema component's grants: schema usage, default privileges for new tables, a grant on all existing ones.
        await server.query(database, `CREATE ROLE ${app.user} LOGIN PASSWORD '${app.password}'`);
        await server.query(database, `CREATE SCHEMA ${SCHEMA}; GRANT USAGE ON SCHEMA ${SCHEMA} TO ${app.user};
            ALTER DEFAULT PRIVILEGES IN SCHEMA ${SCHEMA} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app.user}`);
        await applySqlFiles(server.connection(database), SCHEMA, REPO_FILES);
        await server.query(database, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${SCHEMA} TO ${app.user}`);
        const client = new Client(app);
        await client.connect();
        try {
            assert.strictEqual((await client.query(`SELECT * FROM ${SCHEMA}.sql_migrations`)).rowCount, 0, "no ledger row is visible");
            assert.strictEqual((await client.query(`DELETE FROM ${SCHEMA}.sql_migrations`)).rowCount, 0, "no ledger row can be deleted");
            assert.strictEqual((await client.query(`UPDATE ${SCHEMA}.sql_migrations SET checksum = checksum`)).rowCount, 0);
            await assert.rejects(client.query(`INSERT INTO ${SCHEMA}.sql_migrations (filename, checksum) VALUES ('003_x.sql', '${"0".repeat(64)}')`),
                /row-level security/);
            assert.strictEqual((await client.query(`SELECT * FROM ${SCHEMA}.attendees`)).rowCount, 1, "the application's own tables stay open");
        } finally {
            await client.end();
        }
        assert.deepStrictEqual((await recordedFiles(server.connection(database), SCHEMA)).map((file) => file.name),
            ["001_create_attendees.sql", "002_seed_attendees.sql"]);
    });

    describe("the dynamic provider does what preview promises", () => {
        let database: string;
        let inputs: SqlMigrationsInputs;
        const inputsFor = (files = REPO_FILES): SqlMigrationsInputs => ({
            connection: server.connection(database),
            schema: SCHEMA,
            files: Object.fromEntries(files.map((f) => [f.name, f.checksum])),
            sources: Object.fromEntries(files.map((f) => [f.name, f.sql])),
            ledgerAccess: LEDGER_ACCESS,
        });

        before(async () => {
            database = await freshDatabase();
            inputs = inputsFor();
        });

        it("create applies every file", async () => {
            const created = await sqlMigrationsProvider.create!(inputs);
            assert.strictEqual(created.id, `${database}/${SCHEMA}`);
            assert.deepStrictEqual(created.outs?.applied, ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        });

        it("diff reports no change for a new password or address, a change for a new file", async () => {
            const sameFiles = { ...inputs, connection: { ...inputs.connection, password: "rotated", host: "localhost" } };
            assert.strictEqual((await sqlMigrationsProvider.diff!("id", inputs as never, sameFiles)).changes, false);
            const withNew = inputsFor([...REPO_FILES, sqlFile("003_tracks.sql", "CREATE TABLE tracks (id int PRIMARY KEY);")]);
            assert.strictEqual((await sqlMigrationsProvider.diff!("id", inputs as never, withNew)).changes, true);
        });

        it("check refuses an edited applied file before anything runs", async () => {
            const edited = inputsFor([sqlFile(REPO_FILES[0].name, "SELECT 1;"), REPO_FILES[1]]);
            const checked = await sqlMigrationsProvider.check!(inputs, edited);
            assert.match(checked.failures?.[0]?.reason ?? "", /sql\/001_create_attendees\.sql was edited after it was applied/);
            const tampered = { ...inputs, sources: { ...inputs.sources, [REPO_FILES[1].name]: "DELETE FROM attendees;" } };
            assert.match((await sqlMigrationsProvider.check!(inputs, tampered)).failures?.[0]?.reason ?? "", /does not match its checksum/);
            assert.deepStrictEqual((await sqlMigrationsProvider.check!(inputs, inputs)).failures, []);
        });

        it("update applies only the new file", async () => {
            const withNew = inputsFor([...REPO_FILES, sqlFile("003_tracks.sql", "CREATE TABLE tracks (id int PRIMARY KEY);")]);
            const updated = await sqlMigrationsProvider.update!("id", inputs as never, withNew);
            assert.deepStrictEqual(updated.outs?.applied, ["003_tracks.sql"]);
            assert.deepStrictEqual(updated.outs?.recorded, ["001_create_attendees.sql", "002_seed_attendees.sql", "003_tracks.sql"]);
        });

        it("refresh reads the ledger, so an update re-applies what a re-initialised database lost", async () => {
            const state = (await sqlMigrationsProvider.update!("id", inputs as never, inputs)).outs!;
            assert.deepStrictEqual((await sqlMigrationsProvider.read!("id", state)).props?.files, state.files, "nothing lost: refresh changes nothing");
            await server.query(database, "DROP SCHEMA workshop CASCADE");
            const refreshed = (await sqlMigrationsProvider.read!("id", state)).props!;
            assert.deepStrictEqual(refreshed.files, {});
            assert.strictEqual((await sqlMigrationsProvider.diff!("id", refreshed, inputs)).changes, true);
            const repaired = await sqlMigrationsProvider.update!("id", refreshed, inputs);
            assert.deepStrictEqual(repaired.outs?.applied, ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        });

        it("a stack created before the ledger was closed gets an update that closes it", async () => {
            await server.query(database, "ALTER TABLE workshop.sql_migrations DISABLE ROW LEVEL SECURITY");
            const { ledgerAccess: _, ...older } = inputs;
            assert.strictEqual((await sqlMigrationsProvider.diff!("id", older as never, inputs)).changes, true);
            const updated = await sqlMigrationsProvider.update!("id", older as never, inputs);
            assert.deepStrictEqual(updated.outs?.applied, []);
            const [ledger] = await server.query(database, "SELECT relrowsecurity FROM pg_class WHERE oid = 'workshop.sql_migrations'::regclass");
            assert.strictEqual(ledger.relrowsecurity, true);
        });

        it("delete keeps the tables and their rows", async () => {
            await sqlMigrationsProvider.delete!("id", inputs as never);
            const [count] = await server.query(database, "SELECT count(*)::int AS n FROM workshop.attendees");
            assert.strictEqual(count.n, 1);
        });
    });

    it("the provider survives Pulumi's function serialisation and runs in another process", async () => {
        const database = await freshDatabase();
        const serialized = await pulumi.runtime.serializeFunction(() => sqlMigrationsProvider);
        assert.ok(!serialized.text.includes(server.connection(database).password), "no credentials captured");
        // Inside the project so that the serialised code's require("pg") resolves as in the engine.
        const directory = fs.mkdtempSync(path.resolve(__dirname, "../node_modules/.serialized-"));
        const providerFile = path.join(directory, "provider.js");
        fs.writeFileSync(providerFile, serialized.text);
        const inputs = {
            connection: server.connection(database),
            schema: SCHEMA,
            files: Object.fromEntries(REPO_FILES.map((f) => [f.name, f.checksum])),
            sources: Object.fromEntries(REPO_FILES.map((f) => [f.name, f.sql])),
            ledgerAccess: LEDGER_ACCESS,
        };
        const script = `const provider = require(${JSON.stringify(providerFile)}).${serialized.exportName}();
            provider.create(JSON.parse(process.argv[1])).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });`;
        const child = spawnSync(process.execPath, ["-e", script, JSON.stringify(inputs)], { encoding: "utf8", timeout: 30_000 });
        fs.rmSync(directory, { recursive: true });
        assert.strictEqual(child.status, 0, child.stderr);
        const result = JSON.parse(child.stdout);
        assert.deepStrictEqual(result.outs.applied, ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        const [count] = await server.query(database, "SELECT count(*)::int AS n FROM workshop.attendees");
        assert.strictEqual(count.n, 1);
    });
});

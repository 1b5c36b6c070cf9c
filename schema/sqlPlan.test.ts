import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readSqlFiles } from "./sqlFiles";
import { lineOfPosition, MigrationPlanError, pendingFiles, splitStatements, sqlFile } from "./sqlPlan";

describe("splitting SQL into statements", () => {
    it("splits at top-level semicolons and gives each statement its first line", () => {
        const statements = splitStatements("-- header\nCREATE TABLE a (id int);\n\nINSERT INTO a VALUES (1);\nSELECT 1");
        assert.deepStrictEqual(statements, [
            { text: "CREATE TABLE a (id int);", line: 2 },
            { text: "INSERT INTO a VALUES (1);", line: 4 },
            { text: "SELECT 1", line: 5 },
        ].map((s) => ({ ...s, text: s.text.replace(/;$/, "") })));
    });

    it("leaves semicolons inside strings, identifiers, comments and dollar quotes alone", () => {
        const sql = [
            "INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x');",
            "CREATE TABLE \"odd;name\" (id int);",
            "/* a; /* nested; */ still; */ SELECT 1;",
            "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2; $body$ LANGUAGE sql;",
            "DO $$ BEGIN PERFORM 1; END $$;",
        ].join("\n");
        const statements = splitStatements(sql);
        assert.strictEqual(statements.length, 5);
        assert.deepStrictEqual(statements.map((s) => s.line), [1, 2, 3, 4, 5]);
        assert.match(statements[3].text, /SELECT 2; \$body\$ LANGUAGE sql$/);
    });

    it("drops comment-only pieces and counts lines inside multi-line strings", () => {
        const statements = splitStatements("SELECT 'a\nb';\n-- only a comment;\n/* and\nanother */\nSELECT 2;");
        assert.deepStrictEqual(statements.map((s) => s.line), [1, 6]);
    });

    it("maps PostgreSQL's error position to the line in the file", () => {
        const [statement] = splitStatements("\n\nCREATE TABLE t (\n  id int,\n  bad typo\n)");
        assert.strictEqual(statement.line, 3);
        assert.strictEqual(lineOfPosition(statement, statement.text.indexOf("typo") + 1), 5);
    });
});

describe("planning SQL files", () => {
    const one = sqlFile("001_a.sql", "SELECT 1;");
    const two = sqlFile("002_b.sql", "SELECT 2;");

    it("applies what the ledger does not record, in order", () => {
        assert.deepStrictEqual(pendingFiles([one, two], []).map((f) => f.name), ["001_a.sql", "002_b.sql"]);
        assert.deepStrictEqual(pendingFiles([one, two], [one]).map((f) => f.name), ["002_b.sql"]);
        assert.deepStrictEqual(pendingFiles([one, two], [one, two]), []);
    });

    it("refuses an applied file that was edited, naming it", () => {
        const edited = sqlFile("001_a.sql", "SELECT 10;");
        assert.throws(() => pendingFiles([edited, two], [one]), (error: Error) =>
            error instanceof MigrationPlanError && /^sql\/001_a\.sql was edited after it was applied/.test(error.message));
    });

    it("refuses a new file that sorts before an applied one", () => {
        const early = sqlFile("001_b.sql", "SELECT 3;");
        assert.throws(() => pendingFiles([one, early, two], [one, two]), /sql\/001_b\.sql is new but sorts before sql\/002_b\.sql/);
    });

    it("reads sql/ in name order and refuses misnamed files", () => {
        const files = readSqlFiles(path.resolve(__dirname, "../sql"));
        assert.deepStrictEqual(files.map((f) => f.name), ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "sql-"));
        fs.writeFileSync(path.join(directory, "create.sql"), "SELECT 1;");
        assert.throws(() => readSqlFiles(directory), /create\.sql: expected file names like 001_create_table\.sql/);
        fs.rmSync(directory, { recursive: true });
    });
});

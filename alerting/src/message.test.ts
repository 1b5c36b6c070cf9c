import * as assert from "assert";
import { buildAlert } from "./message";
import { readMailerSettings, readPodFacts, SettingsError } from "./settings";

const FACTS = readPodFacts({
    POD_NAME: "postgres-7d9f8-abcde", POD_NAMESPACE: "workshop", NODE_NAME: "worker-1", POD_IP: "10.244.1.7",
    PG_SERVICE: "postgres", PG_DATABASE: "WORKSHOP", PULUMI_STACK: "workshop-postgres/dev",
});
const AT = new Date("2026-11-24T08:30:05.123Z");

describe("the alert message", () => {
    const message = buildAlert({ kind: "stopping", reason: "pod is being stopped", source: "preStop hook", at: AT }, FACTS, "[workshop-postgres]");

    it("says what went down and where in a subject short enough for a phone", () => {
        assert.strictEqual(message.subject, "[workshop-postgres] PostgreSQL pod is going down: workshop/postgres-7d9f8-abcde (pod is being stopped)");
    });

    it("always has a plain-text part with the pod, namespace, node, IP, service, database, UTC time and stack", () => {
        for (const expected of ["Pod: postgres-7d9f8-abcde", "Namespace: workshop", "Node: worker-1", "Pod IP: 10.244.1.7",
            "Service: postgres.workshop (port 5432)", "Database: WORKSHOP", "When: 2026-11-24 08:30:05 UTC", "Stack: workshop-postgres/dev"]) {
            assert.ok(message.text.split("\n").includes(expected), `missing line ${expected}`);
        }
        assert.ok(message.text.split("\n").every((line) => line.length <= 160), "no line a phone must scroll sideways for long");
    });

    it("escapes what it puts into HTML", () => {
        const hostile = buildAlert({ kind: "down", reason: "<script>", source: "pod watcher", at: AT, logTail: ["a < b & c"] }, FACTS, "");
        assert.ok(!hostile.html.includes("<script>"));
        assert.match(hostile.html, /a &#60; b &#38; c/);
        assert.match(hostile.text, /^ {2}a < b & c$/m);
    });

    it("carries exit code, restarts and log lines when the watcher knows them", () => {
        const down = buildAlert({ kind: "down", reason: "OOMKilled", source: "pod watcher", at: AT, exitCode: 137, restarts: 3, logTail: ["FATAL: out of memory"] }, FACTS, "");
        assert.match(down.subject, /^PostgreSQL pod is DOWN: workshop\/postgres-7d9f8-abcde \(OOMKilled\)$/);
        assert.match(down.text, /^Exit code: 137$/m);
        assert.match(down.text, /^Restarts: 3$/m);
        assert.match(down.text, /Last PostgreSQL log lines:\n {2}FATAL: out of memory/);
    });

    it("about backups: names the database and the backup Job instead of a pod, and how to look at the Jobs", () => {
        const check = "kubectl -n workshop get jobs -l app.kubernetes.io/component=backup";
        const failed = buildAlert({ kind: "backup-failed", reason: "BackoffLimitExceeded", source: "pod watcher", at: AT, backups: { job: "postgres-backup-29012345", check } }, FACTS, "[workshop-postgres]");
        assert.strictEqual(failed.subject, "[workshop-postgres] PostgreSQL backup FAILED: workshop/WORKSHOP (BackoffLimitExceeded)");
        const lines = failed.text.split("\n");
        assert.ok(lines.includes("Backup Job: postgres-backup-29012345") && lines.includes(`Check: ${check}`), failed.text);
        assert.ok(!lines.some((line) => /^(Pod|Node|Pod IP):/.test(line)), "no pod of the stack is involved");
        assert.ok(failed.html.includes(`<code>${check}</code>`));
        const stopped = buildAlert({ kind: "backups-stopped", reason: "no backup has succeeded for 2d", source: "pod watcher", at: AT, backups: { check } }, FACTS, "");
        assert.ok(!stopped.text.includes("Backup Job:"), "no Job to name");
    });

    it("reads missing pod facts as unknown rather than failing", () => {
        assert.strictEqual(readPodFacts({}).node, "unknown");
    });
});

describe("the mailer settings", () => {
    const VALID = { ALERT_TO: "ops@example.com, dba@example.com", ALERT_FROM: "alerts@example.com" };

    it("reads recipients, sender, deadline and log mode", () => {
        const settings = readMailerSettings(VALID);
        assert.deepStrictEqual(settings.to, ["ops@example.com", "dba@example.com"]);
        assert.strictEqual(settings.deadlineMs, 20_000);
        assert.strictEqual(settings.apiKey, undefined);
        assert.strictEqual(settings.apiUrl, "https://api.sendgrid.com");
    });

    it("names each bad variable, and never the key's value", () => {
        const bad = () => readMailerSettings({ ALERT_TO: "ops", ALERT_FROM: "", ALERT_DEADLINE_SECONDS: "soon", SENDGRID_API_KEY: "SG.secret value", SENDGRID_API_URL: "ftp://x" });
        assert.throws(bad, (error: Error) => error instanceof SettingsError &&
            /ALERT_TO "ops"/.test(error.message) && /ALERT_FROM ""/.test(error.message) && /ALERT_DEADLINE_SECONDS "soon"/.test(error.message) &&
            /SENDGRID_API_KEY contains white space/.test(error.message) && /SENDGRID_API_URL "ftp:\/\/x"/.test(error.message) &&
            !error.message.includes("SG.secret"));
        assert.throws(() => readMailerSettings({ ALERT_FROM: "alerts@example.com" }), /ALERT_TO is empty/);
    });
});

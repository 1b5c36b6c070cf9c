import * as assert from "assert";
import { restorePod, RestoreTarget } from "./backupSpec";
import { Exec, parseRestoreArgs, restore } from "./restore";

const TARGET: RestoreTarget = {
    namespace: "workshop",
    image: "postgres:18.1",
    database: "WORKSHOP",
    backupClaim: "postgres-backup-storage",
    scriptConfigMap: "postgres-backup-script-1a2b3c4d",
    settingsConfigMap: "postgres-backup-settings-5e6f7a8b",
    superuser: "postgres",
    superuserSecret: "postgres-credentials-9c0d1e2f",
};
const BACKUP = "WORKSHOP-20261124T021500Z";

/** Records every program the command runs; answers `pulumi stack output` with `target`. */
function recorder(target: unknown = TARGET) {
    const calls: { program: string; args: readonly string[] }[] = [];
    const exec: Exec = (program, args) => {
        calls.push({ program, args });
        return program === "bash" ? { status: 0, stdout: JSON.stringify(target) } : { status: 0, stdout: "" };
    };
    return { calls, exec };
}

describe("npm run restore", () => {
    const refusals: [string, string[], RegExp][] = [
        ["no arguments", [], /^expected a backup name and the confirmation; usage: npm run restore -- <backup> --yes-overwrite-<DATABASE>/],
        ["no confirmation", [BACKUP], /^expected a backup name and the confirmation/],
        ["a confirmation in the wrong case", [BACKUP, "--yes-overwrite-workshop"],
            /^refusing to restore WORKSHOP-20261124T021500Z without --yes-overwrite-WORKSHOP: the restore replaces every table of database WORKSHOP/],
        ["a general yes", [BACKUP, "--yes"], /^refusing to restore .* without --yes-overwrite-WORKSHOP/],
        ["a path instead of a name", ["../WORKSHOP-20261124T021500Z", "--yes-overwrite-WORKSHOP"], /^"..\/WORKSHOP-20261124T021500Z" is not a backup name such as WORKSHOP-20260101T021500Z/],
        ["an extra argument", [BACKUP, "--yes-overwrite-WORKSHOP", "--force"], /^expected a backup name and the confirmation/],
    ];
    for (const [what, argv, message] of refusals) {
        it(`refuses ${what} with a clear error, before running anything`, () => {
            assert.throws(() => parseRestoreArgs(argv), (error: Error) => {
                assert.match(error.message, message);
                return true;
            });
            const { calls, exec } = recorder();
            assert.strictEqual(restore(argv, exec), 2);
            assert.deepStrictEqual(calls, [], "neither pulumi nor kubectl ran");
        });
    }

    it("runs the restore pod with kubectl, streaming its log and returning its exit code", () => {
        const { calls, exec } = recorder();
        assert.strictEqual(restore([BACKUP, "--yes-overwrite-WORKSHOP"], exec), 0);
        assert.deepStrictEqual(calls[0], { program: "bash", args: ["scripts/pulumi.sh", "stack", "output", "backupRestore", "--json"] });
        assert.strictEqual(calls.length, 2);
        const { program, args } = calls[1];
        assert.strictEqual(program, "kubectl");
        assert.deepStrictEqual(args.slice(0, 4), ["run", "postgres-restore-20261124t021500z", "--namespace", "workshop"]);
        assert.ok(args.includes("--rm") && args.includes("-i") && args.includes("--restart=Never"));
        const overrides: any = JSON.parse(args.find((arg) => arg.startsWith("--overrides="))!.slice("--overrides=".length));
        assert.deepStrictEqual(overrides.spec.containers[0].command, ["sh", "/opt/backup/backup.sh", "restore", BACKUP, "--yes-overwrite-WORKSHOP"]);
        assert.deepStrictEqual(overrides, restorePod(TARGET, ["restore", BACKUP, "--yes-overwrite-WORKSHOP"]));
    });

    it("refuses a backup of another database than the stack's, before kubectl runs", () => {
        const { calls, exec } = recorder({ ...TARGET, database: "OTHER" });
        assert.strictEqual(restore([BACKUP, "--yes-overwrite-WORKSHOP"], exec), 2);
        assert.deepStrictEqual(calls.map((call) => call.program), ["bash"]);
    });

    it("says what is missing when the stack has no backups, and runs nothing more", () => {
        const { calls, exec } = recorder(null);
        assert.strictEqual(restore(["--list"], exec), 1);
        assert.deepStrictEqual(calls.map((call) => call.program), ["bash"]);
    });

    it("lists the backups through the same pod, with the list command", () => {
        const { calls, exec } = recorder();
        assert.strictEqual(restore(["--list"], exec), 0);
        const overrides = JSON.parse(calls[1].args.find((arg) => arg.startsWith("--overrides="))!.slice("--overrides=".length));
        assert.deepStrictEqual(overrides.spec.containers[0].command, ["sh", "/opt/backup/backup.sh", "list"]);
        assert.strictEqual(overrides.metadata.name, "postgres-restore-list");
    });
});

/**
 * The backup script against a real PostgreSQL, run from the pods the program declares: the
 * CronJob's command and the restore pod's, each with its own environment (ConfigMap, Secret),
 * volumes, uid 999 and a read-only root (testing/kubelet.ts). The only change from the cluster:
 * the Service's name resolves to loopback and its port is the test server's.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { restoreConfirmation, restorePod, RestoreTarget } from "./backupSpec";
import { BACKUP_CLAIM as CLAIM, backupContainer, imagePath, inBackupContainer, jobCommand, seedWorkshop } from "../testing/backupFixture";
import { devStack } from "../testing/devStack";
import { startPostgres, SUPERUSER as EMBEDDED_SUPERUSER } from "../testing/embeddedPostgres";
import { Exit, Materialised, runCommand } from "../testing/kubelet";
import { ProgramRun, runProgram, valueOf } from "../testing/program";
import { startSystemPostgres, SystemServer } from "../testing/systemPostgres";

const SCRIPT = path.resolve(__dirname, "../backup/backup.sh");
/** A table name with a quote, a backslash and a tab, and the name the manifest gives it. */
const ODD_TABLE = "Odd \"name\" \\ with\ttab";
const ODD_KEY = `workshop."Odd ""name"" \\ with\ttab"`;
const BACKUP_NAME = /^WORKSHOP-\d{8}T\d{6}Z$/;

function sha256(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Every file under a directory with its checksum: equal snapshots mean nothing was touched. */
function snapshot(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) {
            const file = path.join(entry.parentPath, entry.name);
            files[path.relative(dir, file)] = sha256(file);
        }
    }
    return files;
}

function backupNames(dir: string): string[] {
    return fs.readdirSync(dir).filter((name) => BACKUP_NAME.test(name)).sort();
}

/** Rewrites SHA256SUMS after a test changed a file on purpose, as if the change came before the checksums. */
function resum(dir: string) {
    const lines = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").trim().split("\n")
        .map((line) => line.split(/\s+/)[1]).map((file) => `${sha256(path.join(dir, file))}  ${file}`);
    fs.writeFileSync(path.join(dir, "SHA256SUMS"), `${lines.join("\n")}\n`);
}

describe("backups and restores against a real PostgreSQL, run as the kubelet would run them", function () {
    this.timeout(60_000);
    const { config, secretKeys } = devStack();
    let server: SystemServer;
    let run: ProgramRun;
    let root: string;
    /** The backup PVC, shared by every pod of these tests. */
    let claim: string;
    const pods: Materialised[] = [];

    before(async () => {
        [server, run] = await Promise.all([startSystemPostgres(config.dbPassword), runProgram(config, secretKeys)]);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "backup-test-"));
        claim = path.join(root, "claim");
        await seedWorkshop(server, run);
        // A lower-case namesake with other content: anything that loses the quotes ends up there.
        await server.query("postgres", "CREATE DATABASE workshop");
        await server.query("workshop", "CREATE TABLE decoy AS SELECT 1 AS n");
        await server.query("WORKSHOP", `CREATE TABLE workshop."${ODD_TABLE.replace(/"/g, "\"\"")}" AS SELECT generate_series(1, 1000) AS n`);
        await server.query("WORKSHOP", "GRANT USAGE ON SCHEMA workshop TO workshop_app; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA workshop TO workshop_app");
    });
    after(() => {
        server?.stop();
        pods.forEach((pod) => pod.cleanup());
        fs.rmSync(root, { recursive: true, force: true });
    });

    function jobPod(claims: Record<string, string> = { [CLAIM]: claim }): Materialised {
        const pod = backupContainer(run, run.one("kubernetes:batch/v1:CronJob"), claims);
        pods.push(pod);
        return pod;
    }

    const inPod = (pod: Materialised, command: readonly string[], env: Record<string, string> = {}) => inBackupContainer(server, pod, command, env);

    function inRestorePod(target: RestoreTarget, scriptArgs: string[], claimDir: string): Promise<Exit> {
        const manifest: any = restorePod(target, scriptArgs);
        const pod = backupContainer(run, { inputs: manifest }, { [CLAIM]: claimDir });
        pods.push(pod);
        assert.ok(pod.readOnlyMounts.includes("/backups"));
        return inPod(pod, manifest.spec.containers[0].command);
    }

    let published: string;

    it("the CronJob's command dumps WORKSHOP and its roles, restores both into a throwaway server, and publishes a verified set", async () => {
        // What earlier runs left: seven backups (BACKUP_KEEP), another database's, and an interrupted run.
        fs.mkdirSync(claim);
        for (let day = 1; day <= 7; day++) {
            fs.mkdirSync(path.join(claim, `WORKSHOP-2020010${day}T021500Z`));
            fs.writeFileSync(path.join(claim, `WORKSHOP-2020010${day}T021500Z`, "database.dump"), `old ${day}`);
        }
        fs.mkdirSync(path.join(claim, "OTHER-20200101T021500Z"));
        fs.mkdirSync(path.join(claim, ".partial-WORKSHOP-20200108T021500Z"));
        execFileSync("chown", ["-R", "999:999", claim]);

        const pod = jobPod();
        assert.deepStrictEqual(pod.user, { uid: 999, gid: 999 });
        const exit = await inPod(pod, jobCommand(run));
        assert.strictEqual(exit.code, 0, exit.stderr);
        const result = JSON.parse(exit.stdout.trim());
        assert.strictEqual(result.backup, "succeeded");
        published = result.name;
        assert.match(published, BACKUP_NAME);

        // Retention: exactly BACKUP_KEEP of this database's backups, the newest; nothing else touched.
        assert.deepStrictEqual(backupNames(claim), [2, 3, 4, 5, 6, 7].map((day) => `WORKSHOP-2020010${day}T021500Z`).concat(published));
        assert.ok(fs.existsSync(path.join(claim, "OTHER-20200101T021500Z")));
        assert.ok(!fs.readdirSync(claim).some((name) => name.startsWith(".partial-")), "the interrupted run's files are gone");

        const set = path.join(claim, published);
        assert.deepStrictEqual(fs.readdirSync(set).sort(), ["SHA256SUMS", "database.dump", "globals.sql", "manifest.json", "row-counts"]);
        assert.strictEqual(fs.statSync(path.join(set, "database.dump")).uid, 999, "written by the container's uid, not root");
        assert.strictEqual(fs.readFileSync(path.join(set, "database.dump")).subarray(0, 5).toString(), "PGDMP", "custom format");
        const manifest = JSON.parse(fs.readFileSync(path.join(set, "manifest.json"), "utf8"));
        assert.strictEqual(manifest.name, published);
        assert.strictEqual(manifest.database, "WORKSHOP");
        assert.strictEqual(manifest.verified, true);
        assert.match(manifest.check, /restored into a throwaway server; row counts of 3 tables equal the dump's snapshot/);
        assert.deepStrictEqual(manifest.tables, { "workshop.attendees": 1, "workshop.sql_migrations": 2, [ODD_KEY]: 1000 });
        assert.ok(Number.isInteger(manifest.durationSeconds));
        assert.match(manifest.serverVersion, new RegExp(`^${server.major}\\.`));
        for (const file of manifest.files) {
            assert.strictEqual(file.sha256, sha256(path.join(set, file.name)), file.name);
            assert.strictEqual(file.bytes, fs.statSync(path.join(set, file.name)).size, file.name);
        }
        const globals = fs.readFileSync(path.join(set, "globals.sql"), "utf8");
        assert.match(globals, /^-- Bootstrap superuser of the dumped cluster: postgres\n/, "the check server's superuser, named on the first line");
        assert.match(globals, /CREATE ROLE workshop_backup;/);
        // The provider's grant, made as the bootstrap superuser: on PostgreSQL 16+ only that role may make it again.
        assert.match(globals, /^GRANT pg_read_all_data TO workshop_backup( WITH INHERIT TRUE)? GRANTED BY postgres;$/m);
        assert.doesNotMatch(globals, /PASSWORD|SCRAM-SHA-256/, "no password hashes on the backup volume");
    });

    it("the restore pod puts the seed row back into the database named exactly WORKSHOP, and only with the confirmation", async () => {
        await server.query("WORKSHOP", "DELETE FROM workshop.attendees");
        const target = await valueOf(run.outputs.backupRestore) as RestoreTarget;
        const restore = (confirmation: string) => inRestorePod(target, ["restore", published, confirmation], claim);

        const before = snapshot(claim);
        for (const wrong of ["--yes-overwrite-workshop", "--yes", ""]) {
            const refused = await restore(wrong);
            assert.strictEqual(refused.code, 2, refused.stderr);
            assert.match(refused.stderr, /refusing to restore into database WORKSHOP without --yes-overwrite-WORKSHOP/);
            assert.deepStrictEqual(await server.query("WORKSHOP", "SELECT count(*)::int AS n FROM workshop.attendees"), [{ n: 0 }]);
        }

        const restored = await restore(restoreConfirmation("WORKSHOP"));
        assert.strictEqual(restored.code, 0, restored.stderr);
        assert.deepStrictEqual(JSON.parse(restored.stdout.trim()), { restore: "succeeded", name: published, database: "WORKSHOP", tables: 3 });
        const rows = await server.query("WORKSHOP", "SELECT id::int, full_name, email, role, company FROM workshop.attendees");
        assert.deepStrictEqual(rows, [{ id: 1, full_name: "Ada Lovelace", email: "ada.lovelace@example.com", role: "speaker", company: "Analytical Engines Ltd" }]);
        assert.deepStrictEqual(await server.query("workshop", "SELECT n FROM decoy"), [{ n: 1 }], "the lower-case namesake is untouched");
        assert.deepStrictEqual(snapshot(claim), before, "a restore writes nothing to the backup volume");

        const listed = await inRestorePod(target, ["list"], claim);
        assert.strictEqual(listed.code, 0, listed.stderr);
        assert.match(listed.stdout.split("\n")[0], new RegExp(`^${published}  \\d+ bytes$`), "newest first");
    });

    it("a rebuilt stack's fresh PostgreSQL 18 takes the roles file as docs/backups.md says: grants GRANTED BY its bootstrap superuser included", async () => {
        // As after `npm run up` on an empty volume: initdb made dbUser (postgres) the bootstrap superuser.
        const fresh = await startPostgres();
        try {
            const applied = await runCommand([path.join(server.bin, "psql"), "-X", "-q", "-f", path.join(claim, published, "globals.sql")], {
                PGHOST: "127.0.0.1", PGPORT: String(fresh.port), PGUSER: EMBEDDED_SUPERUSER, PGPASSWORD: fresh.connection("postgres").password, PGDATABASE: "postgres",
            });
            assert.strictEqual(applied.code, 0, applied.stderr);
            // pg_dumpall's CREATE ROLE of the bootstrap superuser, which it expects to fail, is the only error.
            assert.deepStrictEqual(applied.stderr.match(/ERROR:.*/g), ["ERROR:  role \"postgres\" already exists"], applied.stderr);
            assert.deepStrictEqual(await fresh.query("postgres", `SELECT r.rolname AS role, g.rolname AS grantor FROM pg_auth_members m
                JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.grantor
                WHERE u.rolname = 'workshop_backup'`), [{ role: "pg_read_all_data", grantor: "postgres" }]);
        } finally {
            await fresh.stop();
        }
    });

    it("the restore pod refuses a backup that no longer matches its checksums, and changes nothing", async () => {
        const copy = path.join(root, "damaged-claim");
        fs.cpSync(path.join(claim, published), path.join(copy, published), { recursive: true });
        fs.appendFileSync(path.join(copy, published, "database.dump"), "x");
        await server.query("WORKSHOP", "UPDATE workshop.attendees SET company = 'changed'");
        const target = await valueOf(run.outputs.backupRestore) as RestoreTarget;
        const exit = await inRestorePod(target, ["restore", published, restoreConfirmation("WORKSHOP")], copy);
        assert.strictEqual(exit.code, 1);
        assert.match(exit.stderr, /does not match its checksums; refusing/);
        assert.deepStrictEqual(await server.query("WORKSHOP", "SELECT company FROM workshop.attendees"), [{ company: "changed" }]);
    });

    describe("the restore check catches a bad set", () => {
        const verifications: Record<string, Promise<Exit>> = {};
        before(() => {
            // Three damaged copies of the published set, each checked in a pod of its own, at once.
            const damage: Record<string, (set: string) => void> = {
                corrupted: (set) => {
                    const dump = fs.readFileSync(path.join(set, "database.dump"));
                    dump[Math.floor(dump.length / 2)] ^= 0xff;
                    fs.writeFileSync(path.join(set, "database.dump"), dump);
                },
                truncated: (set) => {
                    const dump = fs.readFileSync(path.join(set, "database.dump"));
                    fs.writeFileSync(path.join(set, "database.dump"), dump.subarray(0, dump.length - 64));
                    resum(set);
                },
                // The check server's superuser as before the fix: a superuser, but not the bootstrap one.
                otherSuperuser: (set) => {
                    const globals = path.join(set, "globals.sql");
                    fs.writeFileSync(globals, fs.readFileSync(globals, "utf8").replace(/^(-- Bootstrap superuser of the dumped cluster: )postgres$/m, "$1backup_check"));
                    resum(set);
                },
                miscounted: (set) => {
                    const counts = path.join(set, "row-counts");
                    fs.writeFileSync(counts, fs.readFileSync(counts, "utf8").replace("\"workshop.attendees\": 1", "\"workshop.attendees\": 2"));
                    resum(set);
                },
            };
            for (const [kind, harm] of Object.entries(damage)) {
                const copy = path.join(root, kind);
                fs.cpSync(path.join(claim, published), path.join(copy, "set"), { recursive: true });
                harm(path.join(copy, "set"));
                verifications[kind] = inPod(jobPod({ [CLAIM]: copy }), ["sh", "/opt/backup/backup.sh", "verify", "/backups/set"]);
            }
        });

        it("a dump changed after it was written fails its checksum", async () => {
            const exit = await verifications.corrupted;
            assert.strictEqual(exit.code, 1);
            assert.match(exit.stderr, /database.dump: FAILED[\s\S]*files do not match SHA256SUMS/);
        });

        it("a dump cut short before its checksum was taken fails the restore", async () => {
            const exit = await verifications.truncated;
            assert.strictEqual(exit.code, 1);
            assert.match(exit.stderr, /database.dump (does not restore|is not a readable custom-format dump)/);
        });

        it("a roles file restored by a superuser other than the dumped cluster's bootstrap superuser fails, as PostgreSQL 16+ refuses its grants", async () => {
            const exit = await verifications.otherSuperuser;
            assert.strictEqual(exit.code, 1);
            assert.match(exit.stderr, /ERROR: {2}permission denied to grant privileges as role "postgres"\nDETAIL: {2}The grantor must have the ADMIN option on role "pg_read_all_data"/);
            assert.match(exit.stderr, /globals.sql does not restore/);
        });

        it("a row count that differs from the dump's snapshot fails the check and names the table", async () => {
            const exit = await verifications.miscounted;
            assert.strictEqual(exit.code, 1);
            assert.match(exit.stderr, /^- "workshop.attendees": 2$/m);
            assert.match(exit.stderr, /^\+ "workshop.attendees": 1$/m);
            assert.match(exit.stderr, /row counts of the restored copy differ from the dump's snapshot/);
        });
    });

    it("a failed run publishes nothing and leaves every earlier backup as it was", async () => {
        const before = snapshot(claim);
        const unreachable = await inPod(jobPod(), jobCommand(run), { PGPORT: "1" });
        assert.notStrictEqual(unreachable.code, 0);
        assert.deepStrictEqual(snapshot(claim), before);

        // A pg_dump that leaves a broken file (its first 100 bytes): the checks of this very run must refuse it.
        const faulty = path.join(root, "faulty-bin");
        fs.mkdirSync(faulty);
        fs.writeFileSync(path.join(faulty, "pg_dump"), [
            "#!/bin/sh",
            `"${server.bin}/pg_dump" "$@" || exit`,
            "for arg; do case $arg in --file=*) file=${arg#--file=} ;; esac; done",
            "[ -n \"${file:-}\" ] || exit 0",
            "head -c 100 \"$file\" >\"$file.cut\" && mv \"$file.cut\" \"$file\"",
        ].join("\n"), { mode: 0o755 });
        const pod = jobPod();
        const broken = await inPod({ ...pod, mounts: { ...pod.mounts, "/opt/faulty": faulty }, readOnlyMounts: [...pod.readOnlyMounts, "/opt/faulty"] },
            jobCommand(run), { PATH: `/opt/faulty:${imagePath(server)}` });
        assert.strictEqual(broken.code, 1, broken.stderr);
        const failed = JSON.parse(broken.stdout.trim());
        assert.strictEqual(failed.backup, "failed");
        const rest = Object.fromEntries(Object.entries(snapshot(claim)).filter(([file]) => !file.startsWith("failed/")));
        assert.deepStrictEqual(rest, before, "earlier backups untouched, nothing new published");
        const manifest = JSON.parse(fs.readFileSync(path.join(claim, "failed", failed.name, "manifest.json"), "utf8"));
        assert.strictEqual(manifest.verified, false);
        assert.match(manifest.check, /does not restore|not a readable custom-format dump/);
    });

    it("rows written while pg_dump runs are in neither the dump nor the counts, so the check still passes", async () => {
        // pg_dump starts only after the snapshot was exported; this one first commits a row elsewhere.
        const writer = path.join(root, "writer-bin");
        fs.mkdirSync(writer);
        fs.writeFileSync(path.join(writer, "pg_dump"), [
            "#!/bin/sh",
            "case \"$*\" in *--snapshot=*)",
            "  psql -X -q -v ON_ERROR_STOP=1 \"$WRITER_URL\" -c \"INSERT INTO workshop.attendees (full_name, email) VALUES ('Grace Hopper', 'grace@example.com')\" || exit ;;",
            "esac",
            `exec "${server.bin}/pg_dump" "$@"`,
        ].join("\n"), { mode: 0o755 });
        const pod = jobPod();
        const exit = await inPod({ ...pod, mounts: { ...pod.mounts, "/opt/writer": writer }, readOnlyMounts: [...pod.readOnlyMounts, "/opt/writer"] },
            jobCommand(run), {
                PATH: `/opt/writer:${imagePath(server)}`,
                WRITER_URL: `postgresql://postgres:${encodeURIComponent(config.dbPassword)}@127.0.0.1:${server.port}/WORKSHOP`,
            });
        assert.strictEqual(exit.code, 0, exit.stderr);
        const manifest = JSON.parse(fs.readFileSync(path.join(claim, JSON.parse(exit.stdout.trim()).name, "manifest.json"), "utf8"));
        assert.strictEqual(manifest.verified, true);
        assert.strictEqual(manifest.tables["workshop.attendees"], 1);
        assert.deepStrictEqual(await server.query("WORKSHOP", "SELECT count(*)::int AS n FROM workshop.attendees"), [{ n: 2 }]);
    });
});

describe("backup retention (pure)", () => {
    async function expired(keep: number, names: string[]): Promise<string[]> {
        const exit = await runCommand(["sh", "-c", `printf '%s\\n' "$@" | sh ${SCRIPT} expired ${keep}`, "sh", ...names], {});
        assert.strictEqual(exit.code, 0, exit.stderr);
        return exit.stdout.split("\n").filter((line) => line !== "").sort();
    }
    const names = ["WORKSHOP-20260103T021500Z", "WORKSHOP-20260101T021500Z", "WORKSHOP-20261231T235959Z", "WORKSHOP-20260102T021500Z"];

    it("keeps exactly the newest N, whatever order the names come in", async () => {
        assert.deepStrictEqual(await expired(2, names), ["WORKSHOP-20260101T021500Z", "WORKSHOP-20260102T021500Z"]);
        assert.deepStrictEqual(await expired(1, names), ["WORKSHOP-20260101T021500Z", "WORKSHOP-20260102T021500Z", "WORKSHOP-20260103T021500Z"]);
    });

    it("removes nothing while there are N or fewer", async () => {
        assert.deepStrictEqual(await expired(4, names), []);
        assert.deepStrictEqual(await expired(7, names), []);
    });
});

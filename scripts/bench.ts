/**
 * Prints the project's speed and size figures. Each section measures one thing the issues ask for;
 * nothing here asserts a bound (tests assert behaviour, this script reports numbers).
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applySqlFiles } from "../schema/migrationRunner";
import { readSqlFiles } from "../schema/sqlFiles";
import { devStack } from "../testing/devStack";
import { startPostgres } from "../testing/embeddedPostgres";
import { startFakeSendgrid } from "../testing/fakeSendgrid";
import { backupJob, postgresPod, startFakeKubernetes, untrustedCertificate } from "../testing/fakeKubernetes";
import { GZIP_LOADER } from "../alerts/alertSpec";
import { runProgram } from "../testing/program";
import { BACKUP_CLAIM, backupContainer, inBackupContainer, jobCommand, seedWorkshop } from "../testing/backupFixture";
import { startSystemPostgres } from "../testing/systemPostgres";

const ROOT = path.resolve(__dirname, "..");

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function report(label: string, value: string) {
    console.log(`${label.padEnd(66)} ${value}`);
}

async function programUnderMocks() {
    const { config, secretKeys } = devStack();
    await runProgram(config, secretKeys); // warm-up: module loading and ts-node compilation
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < 10; i++) {
        const start = performance.now();
        count = (await runProgram(config, secretKeys)).resources.length;
        times.push(performance.now() - start);
    }
    report(`program evaluation under mocks (median of 10, ${count} resources)`, `${median(times).toFixed(1)} ms`);
}

/** The unit suite, and `npm test` as CI runs it (build, both type checks, mocha): the goal is under a minute on 2 idle cores. */
function unitSuite() {
    let start = performance.now();
    const result = spawnSync(path.join(ROOT, "node_modules/.bin/mocha"), ["--reporter", "dot"], { cwd: ROOT, encoding: "utf8" });
    const wall = performance.now() - start;
    const summary = /(\d+) passing/.exec(result.stdout)?.[1] ?? "?";
    report(`unit suite wall time (mocha, ${summary} tests, exit ${result.status})`, `${(wall / 1000).toFixed(2)} s`);
    start = performance.now();
    const whole = spawnSync("npm", ["test", "--silent", "--", "--reporter", "dot"], { cwd: ROOT, encoding: "utf8" });
    report(`npm test wall time (build, type checks, mocha; exit ${whole.status})`, `${((performance.now() - start) / 1000).toFixed(2)} s`);
}

async function sqlMigrations() {
    const files = readSqlFiles(path.join(ROOT, "sql"));
    const server = await startPostgres();
    try {
        const fresh: number[] = [];
        const noop: number[] = [];
        for (let i = 0; i < 10; i++) {
            const database = `WORKSHOP_BENCH_${i}`;
            await server.createDatabase(database);
            let start = performance.now();
            await applySqlFiles(server.connection(database), "workshop", files);
            fresh.push(performance.now() - start);
            start = performance.now();
            await applySqlFiles(server.connection(database), "workshop", files);
            noop.push(performance.now() - start);
        }
        report(`apply sql/ on a fresh database (median of 10, ${files.length} files)`, `${median(fresh).toFixed(1)} ms`);
        report("no-op re-run on an up-to-date database (median of 10)", `${median(noop).toFixed(1)} ms`);
    } finally {
        await server.stop();
    }
}

function exitOf(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { env, stdio: "ignore" });
        child.on("error", reject);
        child.on("close", resolve);
    });
}

async function alertMailer() {
    const bundle = path.join(ROOT, "alerting/dist/pod-down-alert.js");
    report("mailer bundle size (alerting/dist/pod-down-alert.js)", `${(fs.statSync(bundle).size / 1024).toFixed(1)} KiB`);
    const runs = 15;
    const baseline: number[] = [];
    for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await exitOf(process.execPath, ["-e", ""], {});
        baseline.push(performance.now() - start);
    }
    const toRequest: number[] = [];
    for (let i = 0; i < runs; i++) {
        const api = await startFakeSendgrid();
        const env = {
            ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_KEY: "SG.bench",
            SENDGRID_API_URL: api.url, POD_NAME: "postgres-bench", POD_NAMESPACE: "workshop",
        };
        const start = performance.now();
        const exit = exitOf(process.execPath, [bundle], env);
        const request = await api.nextRequest();
        toRequest.push(request.receivedAt - start);
        await exit;
        await api.close();
    }
    report(`baseline: node -e '' start to exit (median of ${runs})`, `${median(baseline).toFixed(1)} ms`);
    report(`mailer: process start to request at the fake API (median of ${runs})`, `${median(toRequest).toFixed(1)} ms`);
}

async function podWatcher() {
    const runs = 10;
    const latencies: number[] = [];
    const bundle = path.join(ROOT, "alerting/dist/pod-watcher.js.gz");
    const kib = (file: string) => (fs.statSync(file).size / 1024).toFixed(1);
    report("watcher bundle size (minified / gzipped, shipped gzipped)", `${kib(bundle.replace(/\.gz$/, ""))} / ${kib(bundle)} KiB`);
    for (let i = 0; i < runs; i++) {
        const labels = { "app.kubernetes.io/name": "postgresql" };
        const kube = await startFakeKubernetes("workshop", [postgresPod({ labels })]);
        const api = await startFakeSendgrid();
        const watcher = spawn(process.execPath, ["-e", GZIP_LOADER, bundle], {
            stdio: "ignore",
            env: {
                KUBECONFIG: kube.kubeconfig, SENDGRID_API_URL: api.url, SENDGRID_API_KEY: "SG.bench",
                ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com",
                WATCH_NAMESPACE: "workshop", WATCH_SELECTOR: "app.kubernetes.io/name=postgresql",
            },
        });
        await kube.waitForRequest((request) => request.query.get("watch") === "true");
        const start = performance.now();
        kube.emit("MODIFIED", postgresPod({ labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        const request = await api.nextRequest();
        latencies.push(request.receivedAt - start);
        const exited = new Promise((resolve) => watcher.once("exit", resolve));
        watcher.kill("SIGTERM");
        await exited;
        await kube.close();
        await api.close();
    }
    report(`watcher: watch event to request at the fake API (median of ${runs})`, `${median(latencies).toFixed(1)} ms`);
    // The usual kube-prometheus rules: KubePodNotReady / KubePodCrashLooping with "for: 15m", evaluated every
    // 30 s on metrics scraped every 30 s, then Alertmanager's group_wait of 30 s before the first notification.
    const forSeconds = 15 * 60;
    const best = forSeconds + 30;
    const worst = forSeconds + 30 + 30 + 30;
    report("usual Prometheus rules (for: 15m + scrape, evaluation, group_wait)", `${(best / 60).toFixed(1)}–${(worst / 60).toFixed(1)} min`);
}

/** The CronJob's command, run as the kubelet would, on the seed database and on a million rows. */
async function backups() {
    const { config, secretKeys } = devStack();
    const [server, run] = await Promise.all([startSystemPostgres(config.dbPassword), runProgram(config, secretKeys)]);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "backup-bench-"));
    try {
        await seedWorkshop(server, run);
        for (const [label, rows] of [["seed database (1 row)", 0], ["one million rows", 1_000_000]] as const) {
            if (rows > 0) {
                await server.query("WORKSHOP", "INSERT INTO workshop.attendees (full_name, email, company) " +
                    "SELECT 'Attendee ' || i, 'attendee' || i || '@example.com', 'Company ' || i % 1000 FROM generate_series(1, $1::int) i", [rows]);
                await server.query("WORKSHOP", "VACUUM ANALYZE workshop.attendees");
            }
            const claim = path.join(root, `claim-${rows}`);
            const pod = backupContainer(run, run.one("kubernetes:batch/v1:CronJob"), { [BACKUP_CLAIM]: claim });
            let start = performance.now();
            const exit = await inBackupContainer(server, pod, jobCommand(run));
            const total = performance.now() - start;
            if (exit.code !== 0) {
                throw new Error(`backup run failed: ${exit.stderr}`);
            }
            const name = JSON.parse(exit.stdout.trim()).name as string;
            start = performance.now();
            const check = await inBackupContainer(server, pod, ["sh", "/opt/backup/backup.sh", "verify", `/backups/${name}`]);
            const verify = performance.now() - start;
            if (check.code !== 0) {
                throw new Error(`verify failed: ${check.stderr}`);
            }
            const size = (file: string) => fs.statSync(path.join(claim, name, file)).size;
            const [tableBytes] = await server.query("WORKSHOP", "SELECT pg_total_relation_size('workshop.attendees')::bigint AS n");
            const kib = (bytes: number) => (bytes / 1024).toFixed(1);
            report(`${label}: whole run (dump, check, publish)`, `${(total / 1000).toFixed(2)} s`);
            report(`${label}: the restore check alone (verify)`, `${(verify / 1000).toFixed(2)} s`);
            report(`${label}: dump / roles / table on the server`, `${kib(size("database.dump"))} / ${kib(size("globals.sql"))} / ${kib(Number(tableBytes.n))} KiB`);
            pod.cleanup();
        }
    } finally {
        server.stop();
        fs.rmSync(root, { recursive: true, force: true });
    }
}

/** A pod the size a real API server returns (about 9 KB of JSON: labels, annotations, managedFields). */
function realisticPod(overrides: Parameters<typeof postgresPod>[0]): any {
    const pod = postgresPod(overrides);
    const fields = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`f:field-${i}`, { ".": {}, "f:status": {}, "f:lastTransitionTime": {} }]));
    pod.metadata.annotations = { "kubectl.kubernetes.io/restartedAt": "2026-11-24T08:00:00Z", "workshop/config-hash": "0".repeat(64) };
    pod.metadata.managedFields = ["kube-controller-manager", "kubelet", "pulumi-kubernetes"].map((manager) => ({
        manager, operation: "Update", apiVersion: "v1", time: "2026-11-24T08:00:00Z", fieldsType: "FieldsV1", fieldsV1: fields,
    }));
    return pod;
}

/**
 * Peak resident memory (the kernel's VmHWM) of the real watcher process, started as its pod starts
 * it (gzipped bundle, loader) against an API server over TLS, through a load heavier than its life in a cluster: a crash loop of
 * 300 status updates with log reads and mails, a 410 relist with a replacement pod, bookmarks, and
 * an RBAC outage with its two mails; with the backup Jobs watched too, the CronJob's kept history of
 * three succeeded and three failed Jobs among them.
 */
async function watcherMemory() {
    const labels = { "app.kubernetes.io/name": "postgresql" };
    const name = "postgres-bench";
    const jobLabels = { "app.kubernetes.io/component": "backup" };
    // Finished before the watcher starts, the failures before the successes: history, nothing to mail.
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000).toISOString();
    const jobs = (["failed", "succeeded"] as const).flatMap((outcome, o) => [1, 2, 3].map((i) =>
        backupJob({ name: `postgres-backup-${outcome}-${i}`, labels: jobLabels, outcome, finishedAt: hoursAgo(24 * (7 - 3 * o - i)) })));
    // TLS as in a cluster, with the test certificate trusted.
    const kube = await startFakeKubernetes("workshop", [realisticPod({ name, labels }), ...jobs], { tls: { ...untrustedCertificate(), trusted: true } });
    const logLine = `2026-11-24 08:01:00 UTC [7] LOG:  ${"x".repeat(180)}`;
    kube.setLog(name, `${Array.from({ length: 20 }, () => logLine).join("\n")}\n`);
    const api = await startFakeSendgrid();
    const healthDir = fs.mkdtempSync(path.join(os.tmpdir(), "watcher-bench-"));
    const watcher = spawn(process.execPath, ["-e", GZIP_LOADER, path.join(ROOT, "alerting/dist/pod-watcher.js.gz")], {
        stdio: "ignore",
        env: {
            KUBECONFIG: kube.kubeconfig, SENDGRID_API_URL: api.url, SENDGRID_API_KEY: "SG.bench", ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com",
            WATCH_NAMESPACE: "workshop", WATCH_SELECTOR: "app.kubernetes.io/name=postgresql", HEALTH_DIR: healthDir,
            BACKUP_SELECTOR: "app.kubernetes.io/component=backup", BACKUP_INTERVAL_SECONDS: "86400",
            NOT_READY_SECONDS: "0.5", BLIND_ALERT_SECONDS: "0.5", WATCH_RETRY_SECONDS: "0.05",
        },
    });
    const rss = (field: "VmHWM" | "VmRSS") => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${watcher.pid}/status`, "utf8"))?.[1]) / 1024;
    await kube.waitForRequest((request) => request.query.get("watch") === "true");
    const idle = rss("VmRSS");
    const startPeak = rss("VmHWM");
    let mails = 0;
    for (let restarts = 1; restarts <= 300; restarts++) {
        const finishedAt = new Date().toISOString();
        kube.emit("MODIFIED", realisticPod({ name, labels, ready: restarts % 2 === 0, restarts, lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt } }));
        if (restarts % 30 === 0) {
            kube.bookmark();
        }
    }
    await api.nextRequest();
    mails++;
    // The pod stays ready: the recovery mail, then a relist that finds a replacement.
    kube.emit("MODIFIED", realisticPod({ name, labels, restarts: 300, readyChangedAt: new Date().toISOString() }));
    await api.nextRequest();
    mails++;
    kube.changeWhileCompacted(realisticPod({ name, labels }), "DELETED");
    kube.changeWhileCompacted(realisticPod({ name: "postgres-bench-2", uid: "uid-2", labels, createdAt: new Date().toISOString(), readyChangedAt: new Date().toISOString() }), "ADDED");
    kube.forbid(true);
    kube.dropWatches();
    await api.nextRequest(); // pod alerts are not working
    kube.forbid(false);
    await api.nextRequest(); // they work again
    mails += 2;
    const peak = rss("VmHWM");
    const after = rss("VmRSS");
    const exited = new Promise((resolve) => watcher.once("exit", resolve));
    watcher.kill("SIGTERM");
    await exited;
    await kube.close();
    await api.close();
    fs.rmSync(healthDir, { recursive: true, force: true });
    report("watcher RSS once watching / peak until then (start-up)", `${idle.toFixed(1)} / ${startPeak.toFixed(1)} MiB`);
    report(`watcher peak RSS (VmHWM): 300 status updates, ${mails} mails, relist, 403`, `${peak.toFixed(1)} MiB`);
    report("watcher RSS after that load", `${after.toFixed(1)} MiB`);
}

const SECTIONS: Record<string, [string, () => Promise<void>]> = {
    program: ["## Pulumi program", async () => {
        await programUnderMocks();
        unitSuite();
    }],
    sql: ["## SQL files (embedded PostgreSQL on loopback, connection set-up included)", sqlMigrations],
    mailer: ["## Alert mailer (preStop hook; fake SendGrid API on loopback)", alertMailer],
    watcher: ["## Pod watcher (fake Kubernetes API and fake SendGrid API on loopback; the pod's log is read first)", async () => {
        await podWatcher();
        await watcherMemory();
    }],
    backups: ["## Backups (the CronJob's command as the kubelet runs it; Debian's PostgreSQL server and client on loopback)", backups],
};

/** `npm run bench -- backups sql` runs those sections only; no argument runs them all. */
async function main() {
    const chosen = process.argv.slice(2);
    const unknown = chosen.filter((name) => !(name in SECTIONS));
    if (unknown.length > 0) {
        throw new Error(`unknown section ${unknown.join(", ")}; sections: ${Object.keys(SECTIONS).join(", ")}`);
    }
    console.log(`node ${process.version}, ${new Date().toISOString()}`);
    for (const [name, [title, measure]] of Object.entries(SECTIONS)) {
        if (chosen.length === 0 || chosen.includes(name)) {
            console.log(`\n${title}`);
            await measure();
        }
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});

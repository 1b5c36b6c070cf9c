/**
 * Steps of `npm run test:e2e` that only a real node can run: the PostgreSQL pod goes down in the
 * ways the alert exists for (a graceful stop, a crash, the node's loss) and is replaced under writes,
 * and each is checked at the fake SendGrid and in the database. The OOM kill, the watcher's own
 * failure and the backup are in ./faults.ts.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { queryOnce as sql } from "../../testing/embeddedPostgres";
import type { ControlPlane } from "../controlPlane";
import type { Processes } from "../processes";
import { until } from "../processes";
import { isReady, postgresPods, StepContext } from "./context";
import { writeOnce } from "./faults";
import { NODE_NAME, NodeState, startKubelet, stopKubelet, waitForNodeReady } from "./node";

const rows = async (ctx: StepContext) => Number((await sql(ctx.superuser(), "SELECT count(*) AS n FROM workshop.attendees"))[0].n);

/** b. `kubectl delete pod`: both preStop hooks run, one alert with the pod's name, a clean shutdown, the replacement has every row. */
export async function gracefulStop(ctx: StepContext, sendgridKey: string): Promise<void> {
    const before = await rows(ctx);
    const [pod] = await postgresPods(ctx);
    const logFile = path.join(ctx.logDir, `postgres-${pod.metadata.name}.log`);
    const follow = spawn(ctx.kubectlPath, ["--kubeconfig", ctx.kubeconfig, "-n", ctx.namespace, "logs", "-f", pod.metadata.name, "-c", "postgres"],
        { stdio: ["ignore", fs.openSync(logFile, "w"), "ignore"] });
    const mailsBefore = ctx.mail.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const faultAt = performance.now();
    await ctx.kubectl("-n", ctx.namespace, "delete", "pod", pod.metadata.name, "--wait=false");
    const first = await until("an alert at the fake SendGrid", 90_000, async () => ctx.mail.requests.slice(mailsBefore)[0]);
    ctx.figure(`graceful stop -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s`);
    await until("a Ready replacement pod", 120_000, async () =>
        ((await postgresPods(ctx)).some((p) => p.metadata.uid !== pod.metadata.uid && isReady(p)) ? true : undefined), 500);
    await until("the old pod to be gone", 60_000, async () => ((await postgresPods(ctx)).some((p) => p.metadata.uid === pod.metadata.uid) ? undefined : true), 500);
    follow.kill();
    // The watcher's recovery mail closes the incident: a second alert (the watcher's, which would be a failure) would come before it.
    const recovery = await until("the watcher's recovery mail", 90_000, async () => ctx.mail.requests.slice(mailsBefore).find((m) => /recovered/.test((m.body as any).subject)), 500);
    const mails = ctx.mail.requests.slice(mailsBefore, ctx.mail.requests.indexOf(recovery) + 1);
    const subjects = mails.map((m) => (m.body as any).subject);
    // The preStop hook announces the stop; the watcher stays silent about it and mails the recovery (alerting/src/watch/decide.ts).
    const alerts = mails.filter((m) => !/recovered/.test((m.body as any).subject));
    assert.strictEqual(alerts.length, 1, `exactly one alert; subjects: ${subjects.join(" | ")}`);
    assert.match((alerts[0].body as any).subject, new RegExp(`going down: ${ctx.namespace}/${pod.metadata.name} \\(pod is being stopped\\)`));
    assert.strictEqual(alerts[0].authorization, `Bearer ${sendgridKey}`, "sent with the stack's key");

    const log = fs.readFileSync(logFile, "utf8");
    assert.match(log, /database system is shut down/, `the server shut down cleanly; its log ends:\n${log.slice(-800)}`);
    assert.strictEqual(await rows(ctx), before, "the replacement, on the same claim, has every row");
    const hookFailures = (await ctx.api().get(`/api/v1/namespaces/${ctx.namespace}/events`)).items
        .filter((e: any) => e.involvedObject?.name === pod.metadata.name && /PreStopHook/.test(e.reason)).map((e: any) => `${e.reason}: ${e.message}`);
    assert.deepStrictEqual(hookFailures, [], "no FailedPreStopHook event");
}

/** c. SIGKILL to the postmaster: the kubelet restarts the container, the in-cluster watcher mails once with the reason and exit code. */
export async function crash(ctx: StepContext): Promise<void> {
    const [pod] = await postgresPods(ctx);
    const restarts = pod.status.containerStatuses.find((c: any) => c.name === "postgres").restartCount;
    // The postmaster is PID 1 of its PID namespace (a kill from inside is ignored): find its host PID.
    const postmaster = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).find((p) => {
        try {
            const status = fs.readFileSync(`/proc/${p}/status`, "utf8");
            const nspid = /NSpid:\s+(.*)/.exec(status)?.[1].trim().split(/\s+/);
            const cgroup = fs.readFileSync(`/proc/${p}/cgroup`, "utf8");
            return /Uid:\s+999\b/.test(status) && nspid?.length === 2 && nspid[1] === "1" &&
                fs.readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("postgres") &&
                (cgroup.includes(pod.metadata.uid) || cgroup.includes(pod.metadata.uid.replace(/-/g, "_")));
        } catch {
            return false;
        }
    });
    assert.ok(postmaster, "the postmaster's host PID");
    const mailsBefore = ctx.mail.requests.length;
    const faultAt = performance.now();
    process.kill(Number(postmaster), "SIGKILL");
    const first = await until("the watcher's alert", 90_000, async () => ctx.mail.requests.slice(mailsBefore)[0]);
    ctx.figure(`crash (SIGKILL) -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s; its subject: ${(first.body as any).subject}`);
    await until("the restarted container to be Ready", 120_000, async () => {
        const [current] = await postgresPods(ctx);
        const status = current?.status.containerStatuses?.find((c: any) => c.name === "postgres");
        return current?.metadata.uid === pod.metadata.uid && status?.restartCount > restarts && isReady(current) ? true : undefined;
    }, 500);
    // The recovery mail closes the incident: a second down mail would have come before it.
    const recovery = await until("the recovery mail", 90_000, async () => ctx.mail.requests.slice(mailsBefore).find((m) => /recovered/.test((m.body as any).subject)), 500);
    const mails = ctx.mail.requests.slice(mailsBefore, ctx.mail.requests.indexOf(recovery) + 1);
    const down = mails.filter((m) => /DOWN/.test((m.body as any).subject));
    assert.strictEqual(down.length, 1, `one down alert; subjects: ${mails.map((m) => (m.body as any).subject).join(" | ")}`);
    const text = JSON.stringify(down[0].body);
    assert.match(text, /137/, "the exit code");
    assert.ok(text.includes(pod.metadata.name), "the pod's name");
}

/** e. The kubelet stops: node and pod go NotReady, the watcher mails after its threshold; the kubelet returns: one recovery mail. */
export async function nodeLoss(ctx: StepContext, node: NodeState, processes: Processes, plane: ControlPlane): Promise<void> {
    const mailsBefore = ctx.mail.requests.length;
    const faultAt = performance.now();
    await stopKubelet(node);
    await until("the node to be NotReady", 120_000, async () => {
        const n = await ctx.api().get(`/api/v1/nodes/${NODE_NAME}`);
        return n.status.conditions.some((c: any) => c.type === "Ready" && c.status !== "True") ? true : undefined;
    }, 500);
    const notReadyAt = performance.now();
    const first = await until("the watcher's node-loss alert", 120_000, async () => ctx.mail.requests.slice(mailsBefore)[0], 500);
    ctx.figure(`node loss (kubelet stopped) -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s (node NotReady seen after ${((notReadyAt - faultAt) / 1000).toFixed(1)} s; the controller manager's grace period is 20 s here)`);
    assert.match((first.body as any).subject, /DOWN/, "a down alert");
    ctx.figure(`  its subject: ${(first.body as any).subject}`);
    const downCount = ctx.mail.requests.length - mailsBefore;
    startKubelet(node, processes);
    await waitForNodeReady(node, processes, plane, 90_000);
    await until("a Ready PostgreSQL pod", 120_000, async () => ((await postgresPods(ctx)).some(isReady) ? true : undefined), 500);
    const recovery = await until("the recovery mail", 90_000, async () => ctx.mail.requests.slice(mailsBefore + downCount).find((m) => /recover/i.test((m.body as any).subject)), 500);
    // The recovery mail closes the incident: a second down mail would have come before it.
    const subjects = ctx.mail.requests.slice(mailsBefore, ctx.mail.requests.indexOf(recovery) + 1).map((m) => (m.body as any).subject);
    assert.strictEqual(subjects.filter((s) => /recover/i.test(s)).length, 1, `one recovery mail; subjects: ${subjects.join(" | ")}`);
    assert.strictEqual(subjects.filter((s) => !/recover/i.test(s)).length, 1, `one down mail; subjects: ${subjects.join(" | ")}`);
}

/** Pod deletions of the one-server step: graceful ones, then one forced (--grace-period=0 --force). */
export const LOCK_TRIALS: readonly boolean[] = [false, false, true];
const SERVER_SAMPLE_MS = 20;

/**
 * Samples the host's processes: PostgreSQL server processes (uid 999, command line `postgres...`) by
 * the pod of their cgroup; when each pod's were first and last seen, and every sample with two pods'.
 */
function watchServers() {
    const seen = new Map<string, { first: number; last: number }>();
    const overlaps: string[] = [];
    let samples = 0;
    let current = new Set<string>();
    const sample = () => {
        const pods = new Set<string>();
        for (const pid of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(pid)) {
                continue;
            }
            try {
                if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("postgres") || !/Uid:\s+999\b/.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"))) {
                    continue;
                }
                const uid = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(fs.readFileSync(`/proc/${pid}/cgroup`, "utf8"))?.[1];
                if (uid !== undefined) {
                    pods.add(uid.replace(/_/g, "-"));
                }
            } catch {
                // exited meanwhile
            }
        }
        const now = Date.now();
        samples++;
        for (const uid of pods) {
            const entry = seen.get(uid) ?? { first: now, last: now };
            entry.last = now;
            seen.set(uid, entry);
        }
        current = pods;
        if (pods.size > 1) {
            overlaps.push(`${new Date(now).toISOString()}: ${[...pods].join(", ")}`);
        }
    };
    const timer = setInterval(sample, SERVER_SAMPLE_MS);
    return {
        firstSeen: (uid: string) => seen.get(uid)?.first,
        lastSeen: (uid: string) => seen.get(uid)?.last,
        /** Whether the pod has server processes now. */
        running: (uid: string) => { sample(); return current.has(uid); },
        overlaps: () => overlaps,
        samples: () => samples,
        stop: () => clearInterval(timer),
    };
}

/** One server on the volume: pod deletions under writes; each new server starts after the old one's last process ended; rows intact; pg_amcheck clean. */
export async function oneServerOnTheVolume(ctx: StepContext): Promise<void> {
    await sql(ctx.superuser(), "CREATE TABLE IF NOT EXISTS public.lock_trial (id bigserial PRIMARY KEY, trial int NOT NULL, payload text NOT NULL)");
    const watch = watchServers();
    let waits = 0;
    try {
        for (const [index, force] of LOCK_TRIALS.entries()) {
            const trial = index + 1;
            const [pod] = (await postgresPods(ctx)).filter(isReady);
            assert.ok(pod, `trial ${trial}: a Ready PostgreSQL pod`);
            // About 100 MB of dirty buffers (shared_buffers is 128 MB), so that the shutdown checkpoint takes seconds.
            await sql(ctx.superuser(), `INSERT INTO public.lock_trial (trial, payload) SELECT ${trial}, repeat(md5(g::text), 6) FROM generate_series(1, 400000) g`);
            const bulk = 400000;
            const logFile = path.join(ctx.logDir, `postgres-${pod.metadata.name}.log`);
            const follow = spawn(ctx.kubectlPath, ["--kubeconfig", ctx.kubeconfig, "-n", ctx.namespace, "logs", "-f", "--timestamps",
                pod.metadata.name, "-c", "postgres"], { stdio: ["ignore", fs.openSync(logFile, "w"), "ignore"] });
            // A client that keeps writing, one committed row at a time, until the old server refuses it.
            const acknowledged: number[] = [];
            let writing = true;
            const writer = (async () => {
                while (writing) {
                    try {
                        acknowledged.push(Number((await writeOnce(ctx.superuser(), `INSERT INTO public.lock_trial (trial, payload) VALUES (${trial}, 'live') RETURNING id`))[0].id));
                    } catch {
                        await new Promise((resolve) => setTimeout(resolve, 100));
                    }
                }
            })();
            await until("the writer's first rows", 30_000, async () => (acknowledged.length >= 3 ? true : undefined), 50);
            const deletedAt = Date.now();
            await ctx.kubectl("-n", ctx.namespace, "delete", "pod", pod.metadata.name, "--wait=false", ...(force ? ["--grace-period=0", "--force"] : []));
            const replacement = await until(`trial ${trial}: a Ready replacement pod`, 300_000, async () =>
                (await postgresPods(ctx)).find((p) => p.metadata.uid !== pod.metadata.uid && isReady(p)), 500);
            await until(`trial ${trial}: the old server's processes to be gone`, 120_000, async () => (watch.running(pod.metadata.uid) ? undefined : true), 100);
            writing = false;
            await writer;
            follow.kill();
            const newLog = await ctx.kubectl("-n", ctx.namespace, "logs", "--timestamps", replacement.metadata.name, "-c", "postgres");
            fs.writeFileSync(path.join(ctx.logDir, `postgres-${replacement.metadata.name}-trial${trial}.log`), newLog);
            const oldLog = fs.readFileSync(logFile, "utf8");
            const at = (log: string, pattern: RegExp) => { const line = log.split("\n").find((l) => pattern.test(l)); return line === undefined ? undefined : Date.parse(line.split(" ")[0]); };
            const oldShutDown = at(oldLog, /database system is shut down/);
            const waitedFrom = at(newLog, /server lock: .* waiting for it to exit/);
            const acquired = at(newLog, /server lock: .* acquired/);
            const newStart = at(newLog, /starting PostgreSQL/);
            const oldEnd = watch.lastSeen(pod.metadata.uid);
            const newFirst = watch.firstSeen(replacement.metadata.uid);
            assert.ok(oldEnd !== undefined && newFirst !== undefined, `trial ${trial}: both servers' processes seen on the host`);
            const iso = (ms: number | undefined) => (ms === undefined ? "-" : new Date(ms).toISOString().slice(11, 23));
            ctx.figure(`trial ${trial} (${force ? "force-delete, grace 0" : "delete"}): old server's last process seen ${iso(oldEnd)} (log "shut down" ${iso(oldShutDown)}); ` +
                `new pod waited for the lock from ${iso(waitedFrom)}, acquired ${iso(acquired)}, "starting PostgreSQL" ${iso(newStart)}, first server process seen ${iso(newFirst)}: ` +
                `gap ${((newFirst - oldEnd) / 1000).toFixed(3)} s; the old server ended ${((oldEnd - deletedAt) / 1000).toFixed(2)} s after the deletion` +
                `${waitedFrom === undefined ? "" : `, the new one waited ${((acquired ?? waitedFrom) - waitedFrom) / 1000} s for it`}; ${acknowledged.length} rows acknowledged during the deletion`);
            waits += waitedFrom === undefined ? 0 : 1;
            assert.ok(newFirst > oldEnd, `trial ${trial}: the new server's first process (${iso(newFirst)}) came before the old server's last one ended (${iso(oldEnd)})`);
            assert.ok(acquired !== undefined && newStart !== undefined && acquired <= newStart, `trial ${trial}: the new server started after taking the lock:\n${newLog.slice(0, 1200)}`);
            if (oldShutDown !== undefined) {
                assert.ok(acquired >= oldShutDown, `trial ${trial}: the lock was acquired (${iso(acquired)}) before the old server shut down (${iso(oldShutDown)})`);
            }
            const present = await sql(ctx.superuser(), "SELECT count(*) FILTER (WHERE payload <> 'live') AS bulk, array_agg(id) FILTER (WHERE payload = 'live') AS live FROM public.lock_trial WHERE trial = $1", [trial]);
            assert.strictEqual(Number(present[0].bulk), bulk, `trial ${trial}: the bulk rows written before the deletion`);
            const live = new Set(((present[0].live ?? []) as (string | number)[]).map(Number));
            assert.deepStrictEqual(acknowledged.filter((id) => !live.has(id)), [], `trial ${trial}: every acknowledged row`);
        }
        const overlaps = watch.overlaps();
        assert.deepStrictEqual(overlaps, [], "no moment with server processes of two pods on the host");
        ctx.figure(`host samples every ${SERVER_SAMPLE_MS} ms: ${watch.samples()} samples, none with server processes of two pods; ` +
            `${waits} of ${LOCK_TRIALS.length} replacements found the lock held and waited (without it they would have started beside the old server)`);
        const [pod] = (await postgresPods(ctx)).filter(isReady);
        const check = await ctx.kubectl("-n", ctx.namespace, "exec", pod.metadata.name, "-c", "postgres", "--", "sh", "-c",
            "pg_amcheck -h /var/run/postgresql -U \"$POSTGRES_USER\" --all --install-missing --heapallindexed --progress 2>&1; echo \"exit $?\"");
        ctx.figure(`pg_amcheck --all --heapallindexed (its page counts are pg_class estimates): ${check.trim().split("\n").slice(-2).join(" | ")}`);
        assert.match(check, /exit 0\s*$/, `pg_amcheck found corruption:\n${check.slice(-2000)}`);
    } finally {
        watch.stop();
    }
}

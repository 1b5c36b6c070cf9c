/**
 * Steps of `npm run test:e2e` (../run.ts) that put a fault on the running stack and check what is
 * mailed: n3 (an OOM kill), n5 (the watcher in its Deployment, its Role removed) and n6 (a Job of the
 * backup CronJob). Each takes a StepContext, so that it runs whatever steps come before it.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Client } from "pg";
import type { ReceivedRequest } from "../../testing/fakeSendgrid";
import { queryOnce as sql } from "../../testing/embeddedPostgres";
import { clientConfig, Connection } from "../../schema/migrationRunner";
import { run, until } from "../processes";
import { isReady, podsOf, postgresPods, StepContext } from "./context";
import { NETWORK } from "./node";


/** How long the watcher may be blind before it mails that alerts are not working (its BLIND_ALERT_SECONDS; 120 s by default). */
export const WATCHER_BLIND_SECONDS = 20;

const WATCHER_SELECTOR = "app.kubernetes.io/component=pod-watcher";


const subjectOf = (request: ReceivedRequest): string => (request.body as any).subject;
const subjects = (requests: readonly ReceivedRequest[]) => requests.map(subjectOf).join(" | ");
/** Wall-clock milliseconds of a request's arrival (the fake records performance.now()). */
const wallClock = (request: ReceivedRequest) => performance.timeOrigin + request.receivedAt;

/**
 * One query on a connection of its own that the server may end at any moment: pg raises a connection
 * the server terminates (57P01, a shutdown; or a backend killed) as an `error` event, which unhandled
 * would end the run before its cleanup; here it only fails the query.
 */
export async function writeOnce(connection: Connection, text: string): Promise<any[]> {
    const client = new Client(clientConfig(connection));
    client.on("error", () => undefined);
    try {
        await client.connect();
        return (await client.query(text)).rows;
    } finally {
        await client.end().catch(() => undefined);
    }
}

/** Host PIDs of a pod's processes (its containers' cgroups carry the pod's uid, with _ for - under cgroupfs). */
function hostPids(podUid: string): number[] {
    const marks = [podUid, podUid.replace(/-/g, "_")];
    return fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
        try {
            const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
            return marks.some((mark) => cgroup.includes(mark));
        } catch {
            return false;
        }
    }).map(Number);
}

/** The PostgreSQL container's rows, read in one go: their number and a digest of their contents. */
async function attendees(ctx: StepContext): Promise<{ n: number; digest: string }> {
    const [row] = await sql(ctx.superuser(), "SELECT count(*)::int AS n, coalesce(md5(string_agg(a::text, ',' ORDER BY id)), '') AS digest FROM workshop.attendees a");
    return { n: row.n, digest: row.digest };
}

/**
 * d. A query that makes the server exceed the container's memory limit: the kernel's memory-cgroup
 * OOM killer kills that backend (on cgroup v1 there is no memory.oom.group: not the container). The
 * runc shim sees the OOM on the cgroup's memory.oom_control eventfd and publishes TaskOOM; the CRI
 * plugin then marks the running container's status reason "OOMKilled" and keeps it when the container
 * exits (internal/cri/server/events.go). The container exits because the stack runs PostgreSQL with
 * restart_after_crash=off (database/postgresSpec.ts): the postmaster ends after a backend's crash
 * instead of recovering in place. The kubelet restarts it, its last state says OOMKilled, and the
 * watcher mails that once.
 */
export async function oomKill(ctx: StepContext): Promise<void> {
    const [pod] = (await postgresPods(ctx)).filter(isReady);
    assert.ok(pod, "a Ready PostgreSQL pod");
    const limit = pod.spec.containers.find((c: any) => c.name === "postgres").resources.limits.memory;
    const restarts = pod.status.containerStatuses.find((c: any) => c.name === "postgres").restartCount;
    const before = await attendees(ctx);
    const mailsBefore = ctx.mail.requests.length;
    const sentAt = Date.now();
    // string_agg grows one buffer toward 1 GB (10 MB a row), far past the limit; work_mem does not bound it.
    const outcome = await writeOnce(ctx.superuser(), "SELECT length(string_agg(repeat('x', 10000000), '')) FROM generate_series(1, 100)")
        .then((rows) => `returned ${JSON.stringify(rows)}`, (error: Error) => error.message);
    const first = await until("the watcher's alert", 120_000, async () => ctx.mail.requests.slice(mailsBefore)[0]);
    const restarted = await until("the restarted container to be Ready", 120_000, async () => {
        const current = (await postgresPods(ctx)).find((p) => p.metadata.uid === pod.metadata.uid);
        const status = current?.status.containerStatuses?.find((c: any) => c.name === "postgres");
        return status?.restartCount > restarts && isReady(current) ? status : undefined;
    }, 500);
    // The recovery mail closes the incident (the pod has been ready for the watcher's threshold): a second down mail would have come before it.
    const recovery = await until("the recovery mail", 120_000, async () => ctx.mail.requests.slice(mailsBefore).find((m) => /recovered/.test(subjectOf(m))), 500);
    const mails = ctx.mail.requests.slice(mailsBefore, ctx.mail.requests.indexOf(recovery) + 1);

    // What happened, as the kernel, containerd and PostgreSQL tell it.
    const kernel = (await run("dmesg", [])).split("\n").filter((line) => /Memory cgroup out of memory: Killed process .*UID:999/.test(line)).pop();
    const containerId = (restarted.lastState?.terminated?.containerID ?? "").replace(/^containerd:\/\//, "");
    const taskOom = fs.readFileSync(path.join(ctx.logDir, "containerd.log"), "utf8").split("\n")
        .find((line) => line.includes("TaskOOM event") && containerId !== "" && line.includes(containerId));
    const killedAt = taskOom === undefined ? undefined : Date.parse(/time="([^"]+)"/.exec(taskOom)?.[1] ?? "");
    // Evidence for the figures only: the kubelet may already have collected the previous container (its log then goes with it).
    const serverLog = await ctx.kubectl("-n", ctx.namespace, "logs", pod.metadata.name, "-c", "postgres", "--previous")
        .catch((error: Error) => `(the previous container's log: ${error.message.split("\n").find((line) => line.startsWith("Error from server")) ?? "not available"})`);
    const lines = (pattern: RegExp) => serverLog.split("\n").filter((line) => pattern.test(line)).map((line) => line.replace(/^\S+ \S+ \S+ /, ""));
    ctx.figure(`OOM (memory limit ${limit}) -> mail: ${((wallClock(first) - (killedAt ?? sentAt)) / 1000).toFixed(2)} s after ${killedAt === undefined
        ? "the query was sent" : `containerd's TaskOOM (the kill came ${((killedAt - sentAt) / 1000).toFixed(2)} s after the query was sent)`}; its subject: ${subjectOf(first)}`);
    ctx.figure(`  the client saw: ${outcome}`);
    ctx.figure(`  kernel: ${kernel?.replace(/^\[[^\]]*\]\s*/, "") ?? "(no OOM line in dmesg)"}`);
    ctx.figure(`  server: ${[...lines(/terminated by signal 9|previous container's log/), ...lines(/restart_after_crash/)].join(" / ")}`);
    ctx.figure(`  last state: ${JSON.stringify({ reason: restarted.lastState?.terminated?.reason, exitCode: restarted.lastState?.terminated?.exitCode })}`);

    assert.ok(kernel, "the kernel's memory-cgroup OOM killer killed a process of uid 999");
    assert.ok(taskOom, `containerd's CRI plugin logged the TaskOOM event of container ${containerId}`);
    assert.strictEqual(restarted.lastState?.terminated?.reason, "OOMKilled", "the container's last state");
    const down = mails.filter((m) => /DOWN/.test(subjectOf(m)));
    assert.strictEqual(down.length, 1, `one down alert before the recovery; subjects: ${subjects(mails)}`);
    // After an earlier crash of this container the kubelet backs off: the watcher may see "CrashLoopBackOff, last exit OOMKilled".
    assert.match(subjectOf(down[0]), /\((CrashLoopBackOff, last exit )?OOMKilled\)/);
    assert.ok(JSON.stringify(down[0].body).includes(pod.metadata.name), "the pod's name");
    assert.deepStrictEqual(await until("the database after the restart", 60_000, () => attendees(ctx).catch(() => undefined), 500), before, "every row");
}

/** The mails about the watcher itself: "alerts are NOT working" and "work again". */
const NOT_WORKING = /pod alerts are NOT working/;
const WORK_AGAIN = /pod alerts work again/;

/** The JWT's claims (the payload is base64url JSON), to show whose token the watcher holds; never printed whole. */
function tokenClaims(token: string): any {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

/** Remote addresses of a process's ESTABLISHED TCP connections, from its network namespace's /proc/PID/net/tcp. */
function establishedTo(pid: number): string[] {
    return fs.readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1).map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields.length > 3 && fields[3] === "01")
        .map((fields) => {
            const [ip, port] = fields[2].split(":");
            return `${[3, 2, 1, 0].map((i) => parseInt(ip.slice(i * 2, i * 2 + 2), 16)).join(".")}:${parseInt(port, 16)}`;
        });
}

/**
 * f. The watcher runs as its Deployment's pod on the node, with in-cluster config (the kubernetes
 * Service's address in its environment), its ServiceAccount's projected token, and its connection to
 * the API server goes to the Service's ClusterIP: the API server listens on the bridge address only,
 * so only kube-proxy's DNAT carries it. Then its Role is removed: once it has been blind for
 * WATCHER_BLIND_SECONDS it mails "alerts are NOT working" once, naming the API's refusal of its
 * ServiceAccount; the Role is put back and it mails that alerts work again.
 */
export async function watcherInItsDeployment(ctx: StepContext): Promise<void> {
    const [watcher] = (await podsOf(ctx, WATCHER_SELECTOR)).filter(isReady);
    assert.ok(watcher, "a Ready watcher pod");
    const owner = watcher.metadata.ownerReferences?.[0];
    assert.strictEqual(owner?.kind, "ReplicaSet", "made by its Deployment's ReplicaSet");
    const replicaSet = await ctx.api().get(`/apis/apps/v1/namespaces/${ctx.namespace}/replicasets/${owner.name}`);
    assert.strictEqual(replicaSet.metadata.ownerReferences?.[0]?.kind, "Deployment");
    const account = watcher.spec.serviceAccountName;
    const tokenVolume = watcher.spec.volumes.find((v: any) => v.projected?.sources?.some((s: any) => s.serviceAccountToken));
    assert.ok(tokenVolume, "the pod has a projected ServiceAccount token volume");

    // The watcher's node process, seen from the host.
    const pid = hostPids(watcher.metadata.uid).find((p) => {
        try {
            return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("node\0");
        } catch {
            return false;
        }
    });
    assert.ok(pid, "the watcher's node process on this host");
    const environment = Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((e) => e.includes("="))
        .map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    assert.strictEqual(environment.KUBERNETES_SERVICE_HOST, NETWORK.kubernetesServiceIp, "in-cluster config: the kubernetes Service's ClusterIP");
    // The token's mount as the container sees it (/var/run is a symlink to /run there, which /proc/PID/root would resolve on the host).
    const tokenMount = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").map((line) => line.split(" ")[4])
        .find((mountPoint) => mountPoint?.endsWith("/secrets/kubernetes.io/serviceaccount"));
    assert.ok(tokenMount, "the ServiceAccount token is mounted in the watcher's container");
    const token = fs.readFileSync(`/proc/${pid}/root${tokenMount}/token`, "utf8");
    const claims = tokenClaims(token);
    assert.strictEqual(claims.sub, `system:serviceaccount:${ctx.namespace}:${account}`);
    assert.strictEqual(claims["kubernetes.io"]?.pod?.name, watcher.metadata.name, "a token bound to this pod (projected, not a Secret's)");
    const apiServer = `${NETWORK.kubernetesServiceIp}:${environment.KUBERNETES_SERVICE_PORT}`;
    const connections = await until(`the watcher's connection to ${apiServer}`, 30_000, async () => {
        const found = establishedTo(pid);
        return found.includes(apiServer) ? found : undefined;
    }, 500);
    const rules = await run("nft", ["list", "table", "ip", "kube-proxy"]);
    assert.ok(rules.includes(NETWORK.kubernetesServiceIp), "kube-proxy's rules for the kubernetes Service");
    ctx.figure(`watcher ${watcher.metadata.name} (ReplicaSet ${owner.name} of Deployment ${replicaSet.metadata.ownerReferences[0].name}) on ${watcher.spec.nodeName}: ` +
        `KUBERNETES_SERVICE_HOST=${environment.KUBERNETES_SERVICE_HOST}, token of ${claims.sub} bound to pod ${claims["kubernetes.io"].pod.name} ` +
        `(volume ${tokenVolume.name}, expires in ${Math.round((claims.exp * 1000 - Date.now()) / 60_000)} min), connections from its network namespace to ${connections.join(", ")}`);

    // Its Role removed: the watch is refused once it reopens, and the blind bound runs.
    const roles = (await ctx.api().get(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ctx.namespace}/roles`)).items;
    const role = roles.find((r: any) => r.metadata.labels?.["app.kubernetes.io/component"] === "pod-watcher");
    assert.ok(role, `the watcher's Role among ${roles.map((r: any) => r.metadata.name).join(", ")}`);
    const restartsBefore = watcher.status.containerStatuses[0].restartCount;
    const mailsBefore = ctx.mail.requests.length;
    const removedAt = Date.now();
    await ctx.kubectl("-n", ctx.namespace, "delete", "role", role.metadata.name);
    const notWorking = await until("the \"alerts are NOT working\" mail", 180_000, async () => ctx.mail.requests.slice(mailsBefore).find((m) => NOT_WORKING.test(subjectOf(m))), 500);
    ctx.figure(`Role removed -> "NOT working" mail: ${((wallClock(notWorking) - removedAt) / 1000).toFixed(2)} s (the blind bound is ${WATCHER_BLIND_SECONDS} s; ` +
        `the open watch goes on until it is reopened); its subject: ${subjectOf(notWorking)}`);
    const text = JSON.stringify(notWorking.body);
    // 403, not 401: the API still authenticates the watcher (by its token) and refuses it now that its ServiceAccount's Role is gone.
    assert.match(text, /Role does not allow it \(HTTP 403/, "the reason: the API refused the watcher");

    const { metadata, rules: roleRules } = role;
    const restoredAt = Date.now();
    // Made again by a server-side apply as the stack's own field manager: the stack's later applies find their own
    // fields, not another manager's (a conflict that would fail the next update).
    const manager = (metadata.managedFields ?? []).find((entry: any) => entry.operation === "Apply")?.manager;
    assert.ok(manager, "the Role was applied by the stack's field manager");
    await ctx.api().request("PATCH", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ctx.namespace}/roles/${metadata.name}?fieldManager=${encodeURIComponent(manager)}&force=true`, {
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role",
        metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels, annotations: metadata.annotations },
        rules: roleRules,
    }, "application/apply-patch+yaml");
    const again = await until("the \"alerts work again\" mail", 180_000, async () => ctx.mail.requests.slice(mailsBefore).find((m) => WORK_AGAIN.test(subjectOf(m))), 500);
    const [current] = (await podsOf(ctx, WATCHER_SELECTOR)).filter((p) => p.metadata.uid === watcher.metadata.uid);
    ctx.figure(`Role restored -> "work again" mail: ${((wallClock(again) - restoredAt) / 1000).toFixed(2)} s; the watcher's container restarted ` +
        `${current.status.containerStatuses[0].restartCount - restartsBefore} time(s) meanwhile (liveness: blind for the bound)`);
    const mails = ctx.mail.requests.slice(mailsBefore, ctx.mail.requests.indexOf(again) + 1);
    assert.deepStrictEqual(mails.map((m) => (NOT_WORKING.test(subjectOf(m)) ? "not working" : WORK_AGAIN.test(subjectOf(m)) ? "work again" : subjectOf(m))),
        ["not working", "work again"], `one mail each; subjects: ${subjects(mails)}`);
    await until("the watcher to be Ready again", 120_000, async () => ((await podsOf(ctx, WATCHER_SELECTOR)).some(isReady) ? true : undefined), 500);
}

/** What the backup step needs besides the context: `npm run restore` in the project, with the run's stack and kube context. */
export type Restore = (...args: string[]) => Promise<string>;

/**
 * n6. A Job made from the backup CronJob (`kubectl create job --from=cronjob/...`): its pod resolves
 * the Service's DNS name through CoreDNS, reaches PostgreSQL through the ClusterIP (kube-proxy's
 * DNAT to the server's pod, forwarded bridge to bridge) with verify-full against the stack's CA,
 * dumps, restores the dump into a throwaway server, compares the row counts and publishes it on its
 * claim. Then the table is emptied, and `npm run restore` (a pod of its own, `kubectl run -i`) puts
 * the backup back into the running server: the rows match those at the backup, and nothing is mailed.
 */
export async function backupAndRestore(ctx: StepContext, cronJob: string, database: string, restore: Restore): Promise<void> {
    const atBackup = await attendees(ctx);
    const mailsBefore = ctx.mail.requests.length;
    const job = `${cronJob}-e2e`;
    const started = Date.now();
    await ctx.kubectl("-n", ctx.namespace, "create", "job", `--from=cronjob/${cronJob}`, job);
    const done = await until(`Job ${job} to finish`, 300_000, async () => {
        const current = await ctx.api().get(`/apis/batch/v1/namespaces/${ctx.namespace}/jobs/${job}`);
        const failed = current.status?.conditions?.some((c: any) => c.type === "Failed" && c.status === "True");
        return failed || current.status?.succeeded === 1 ? current : undefined;
    }, 1000);
    const jobLog = await ctx.kubectl("-n", ctx.namespace, "logs", `job/${job}`);
    fs.writeFileSync(path.join(ctx.logDir, `${job}.log`), jobLog);
    const result = JSON.parse(jobLog.split("\n").find((line) => line.startsWith("{\"backup\":")) ?? "{}");
    const lookups = fs.readFileSync(path.join(ctx.logDir, "coredns.log"), "utf8").split("\n")
        .filter((line) => line.includes(`"A IN postgres.${ctx.namespace}.svc.${NETWORK.clusterDomain}. `) && line.includes("NOERROR"));
    ctx.figure(`backup Job: ${((Date.now() - started) / 1000).toFixed(0)} s to its end; ${lookups.length} CoreDNS answers for ` +
        `postgres.${ctx.namespace}.svc.${NETWORK.clusterDomain}; ${JSON.stringify(result)}`);
    assert.ok(lookups.length > 0, "the Job's pod resolved the Service's name through CoreDNS");
    assert.strictEqual(done.status.succeeded, 1, `the Job succeeded:\n${jobLog}`);
    assert.strictEqual(result.backup, "succeeded", "dumped, restore-checked and published");

    await sql(ctx.superuser(), "DELETE FROM workshop.attendees");
    assert.strictEqual((await attendees(ctx)).n, 0, "the table is empty before the restore");
    const restoreStarted = Date.now();
    const restored = await restore(result.name, `--yes-overwrite-${database}`);
    fs.writeFileSync(path.join(ctx.logDir, "npm-restore.log"), restored);
    ctx.figure(`npm run restore of ${result.name}: ${((Date.now() - restoreStarted) / 1000).toFixed(1)} s`);
    assert.deepStrictEqual(await attendees(ctx), atBackup, "every row as it was at the backup");
    const mails = ctx.mail.requests.slice(mailsBefore).filter((m) => /backup/i.test(subjectOf(m)));
    assert.deepStrictEqual(mails.map(subjectOf), [], "no backup mail: the backup succeeded");
}

/**
 * `npm run test:node`: the stack's pods on a real node. The control plane of ../controlPlane.ts
 * plus a node of ./node.ts (containerd, runc, the CNI bridge, kubelet, kube-proxy) run the images of
 * ./images.sh; the real Pulumi engine and providers (as in `npm run test:e2e`) deploy a new stack
 * onto it, and the steps below check what only a real node can show, reaching the database through
 * the API server's port-forward. Ends with `N passed, M failed`; the node's cleanup fails the run
 * if anything it made is left on the host.
 *
 * Needs root (network, mounts, cgroups). Stand-ins: the images (built here from Debian packages,
 * not pulled: see ./images.sh), the fake SendGrid (on loopback, relayed to the bridge for the pods),
 * and the postgresql provider (as in test:e2e). See e2e/tools/README.md "A real node".
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT } from "../../config/settings";
import { startFakeSendgrid } from "../../testing/fakeSendgrid";
import { queryOnce as sql } from "../../testing/embeddedPostgres";
import { ControlPlane, startControlPlane } from "../controlPlane";
import { KubeApi } from "../kubeApi";
import { Processes, processesMentioning, run, runStreaming, until } from "../processes";
import { copyProject, programIn, step, tally } from "../steps";
import { NETWORK, NODE_NAME, NodeState, prepareNode, startKubelet, startNode, stopKubelet, stopNode, waitForNodeReady } from "./node";
import { backupJob, FaultContext, isReady, oomKill, watcherInItsDeployment, WATCHER_BLIND_SECONDS, writeOnce } from "./faults";
import { PodForward, startPodForward, startRelay } from "./portForward";

const ROOT = path.resolve(__dirname, "..", "..");
const STACK = "node";
const NAMESPACE = "workshop-node";
/** A password of the run's own: the challenge's is public, and this node's API server is on a bridge address, not loopback. */
const DB = { user: "postgres", password: `node-${randomBytes(9).toString("base64url")}`, name: "WORKSHOP" };
const SCHEMA = "workshop";
const POSTGRES_SELECTOR = "app.kubernetes.io/name=postgresql";

const figures: string[] = [];

function figure(text: string): void {
    figures.push(text);
    console.log(`      ${text}`);
}

/**
 * The mailer's API address (SENDGRID_API_URL, which the mailer reads and the stack has no setting
 * for yet) added to the alert settings ConfigMap, pointing at the fake SendGrid; and the watcher's
 * blind bound (BLIND_ALERT_SECONDS, read from the same ConfigMap) shortened for step f.
 */
function mailerAddress(sendgridUrl: () => string): () => void {
    return () => pulumi.runtime.registerStackTransformation((args) => {
        if (args.type === "kubernetes:core/v1:ConfigMap" && args.props.data !== undefined) {
            return {
                props: { ...args.props, data: pulumi.output(args.props.data).apply((data: Record<string, string>) =>
                    ("ALERT_TO" in data ? { ...data, SENDGRID_API_URL: sendgridUrl(), BLIND_ALERT_SECONDS: String(WATCHER_BLIND_SECONDS) } : data)) },
                opts: args.opts,
            };
        }
        return undefined;
    });
}

/** Runs a script, printing its stdout lines as they come (progress), and returns its last line. */
async function runWithProgress(command: string, args: string[], logFile: string): Promise<string> {
    const stdout = await runStreaming(command, args, { onLine: (line) => console.log(`      ${line}`), logFile });
    return stdout.trim().split("\n").pop() as string;
}

/** Pod deletions of step g: graceful ones, then one forced (--grace-period=0 --force). */
const LOCK_TRIALS: readonly boolean[] = [false, false, false, false, false, true];
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

async function main(): Promise<number> {
    if (process.getuid?.() !== 0) {
        console.log("npm run test:node needs root: it makes a bridge, mounts and cgroups.\n0 passed, 1 failed");
        return 1;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "workshop-node-"));
    const logDir = path.join(tmp, "logs");
    fs.mkdirSync(logDir);
    const processes = new Processes(logDir);
    console.log(`workshop-postgres on a real node; logs in ${logDir}`);

    let binDir = "";
    let standinDir = "";
    let imagesList = "";
    let plane: ControlPlane | undefined;
    let node: NodeState | undefined;
    let forward: PodForward | undefined;
    let stack: Stack | undefined;
    const mail = await startFakeSendgrid();
    let relay: { port: number; close(): Promise<void> } | undefined;
    const secrets = {
        app: `app-${randomBytes(9).toString("base64url")}`,
        sendgrid: `SG.${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`,
        backup: `backup-${randomBytes(9).toString("base64url")}`,
    };
    const project = path.join(tmp, "project");
    const engineEnv: Record<string, string> = {};
    const api = () => (plane as ControlPlane).api as KubeApi;
    let dbPassword = DB.password;
    let images: Record<string, string> = {};
    const superuser = () => ({ host: "127.0.0.1", port: (forward as PodForward).port, user: DB.user, password: dbPassword, database: DB.name, sslMode: "disable" as const });
    const engineLog = (name: string) => ({ onOutput: (text: string) => fs.appendFileSync(path.join(logDir, `pulumi-${name}.log`), text) });
    const postgresPods = async () => (await api().get(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent(POSTGRES_SELECTOR)}`)).items as any[];
    const kubectl = (...args: string[]) => run(path.join(binDir, "kubectl"), ["--kubeconfig", (plane as ControlPlane).kubeconfig, ...args]);
    const rows = async () => Number((await sql(superuser(), `SELECT count(*) AS n FROM ${SCHEMA}.attendees`))[0].n);
    const faults: FaultContext = { api, kubectl, namespace: NAMESPACE, mail, superuser, figure, logDir };

    try {
        await step("tools: find or build the pinned toolchain, the node's tools included", async () => {
            binDir = process.env.E2E_TOOLS_BIN ?? await runWithProgress("bash", [path.join(ROOT, "e2e/tools/build.sh")], path.join(logDir, "build.log"));
            for (const tool of ["pulumi", "kubelet", "containerd", "runc", "pause"]) {
                assert.ok(fs.existsSync(path.join(binDir, tool)), `no ${tool} in ${binDir}${tool === "runc"
                    ? ": build.sh builds runc only with Debian's libseccomp-dev and pkg-config (apt-get install -y libseccomp-dev pkg-config)" : ""}`);
            }
            standinDir = path.join(path.dirname(binDir), "standins");
            await run("go", ["build", "-trimpath", "-o", path.join(standinDir, "pulumi-resource-postgresql"), "."],
                { cwd: path.join(ROOT, "e2e/standins/postgresql"), env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" } });
        });

        await step("images: the PostgreSQL, Node and pause stand-ins as OCI archives (built from Debian packages, cached)", async () => {
            const dir = await runWithProgress("bash", [path.join(ROOT, "e2e/node/images.sh"), path.join(binDir, "pause")], path.join(logDir, "images.log"));
            imagesList = path.join(dir, "images.list");
            assert.ok(fs.existsSync(imagesList), `no ${imagesList}`);
        });

        await step("node: bridge, control plane on its address, containerd + images, kubelet Ready, kube-proxy, local volumes", async () => {
            const started = Date.now();
            node = await prepareNode(binDir, path.join(tmp, "node"));
            plane = await startControlPlane({ binDir, kwokStages: [] }, path.join(tmp, "cluster"), processes, {
                realNode: { nodeName: NODE_NAME, address: NETWORK.address, serviceCidr: NETWORK.serviceCidr,
                    kubernetesServiceIp: NETWORK.kubernetesServiceIp, nodeMonitorGraceSeconds: 20 },
            });
            node.timings["control plane"] = (Date.now() - started) / 1000 - (node.timings.bridge ?? 0);
            await startNode(node, { binDir, imagesList }, processes, plane);
            figure(`node bring-up ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.entries(node.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ")}`);
            relay = await startRelay(NETWORK.address, Number(new URL(mail.url).port));
        });

        await step("a. start: `up` of a new stack brings the PostgreSQL pod to Ready on the node (probes, initdb as 999 on a local volume, postStart, restricted, read-only root)", async () => {
            copyProject(project);
            const state = path.join(tmp, "state");
            fs.mkdirSync(state);
            Object.assign(engineEnv, {
                PULUMI_BACKEND_URL: `file://${state}`,
                PULUMI_CONFIG_PASSPHRASE: "node-passphrase",
                PULUMI_HOME: path.join(tmp, "pulumi-home"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                KUBECONFIG: (plane as ControlPlane).kubeconfig,
                PATH: [binDir, standinDir, path.join(ROOT, "node_modules/.bin"), process.env.PATH].join(":"),
            });
            process.env.KUBECONFIG = (plane as ControlPlane).kubeconfig;
            forward = await startPodForward(path.join(binDir, "kubectl"), (plane as ControlPlane).kubeconfig, api(), NAMESPACE, POSTGRES_SELECTOR, 5432,
                (line) => fs.appendFileSync(path.join(logDir, "port-forward.log"), `${line}\n`));
            images = Object.fromEntries(fs.readFileSync(imagesList, "utf8").trim().split("\n").map((line) => line.split(" ")[1])
                .map((ref) => [ref.split("/").pop()?.split(":")[0] === "postgres" && ref.endsWith("-b") ? "postgresAlt" : ref.split("/").pop()?.split(":")[0], ref]));
            const pulumiCommand = await PulumiCommand.get({ root: path.dirname(binDir), skipVersionCheck: true });
            stack = await LocalWorkspace.createStack({ stackName: STACK, projectName: PROJECT, program: programIn(project, mailerAddress(() => `http://${NETWORK.address}:${relay?.port}`)) },
                { workDir: project, pulumiCommand, envVars: engineEnv });
            const plain = { dbName: DB.name, dbUser: DB.user, namespace: NAMESPACE, serviceType: "ClusterIP", alertTo: "ops@example.com", alertFrom: "alerts@example.com",
                dbHost: "127.0.0.1", dbPort: String(forward.port), image: images.postgres, alertImage: images.node, watcherNotReadySeconds: "10", allowDataDeletion: "true" };
            const secret = { dbPassword: DB.password, appPassword: secrets.app, sendgridApiKey: secrets.sendgrid, backupPassword: secrets.backup };
            await stack.setAllConfig(Object.fromEntries([
                ...Object.entries(plain).map(([key, value]) => [`${PROJECT}:${key}`, { value }]),
                ...Object.entries(secret).map(([key, value]) => [`${PROJECT}:${key}`, { value, secret: true }]),
            ]));
            const started = Date.now();
            const up = await stack.up(engineLog("a-up"));
            assert.strictEqual(up.summary.result, "succeeded");
            figure(`up to schema applied: ${((Date.now() - started) / 1000).toFixed(1)} s`);
            const [pod] = await postgresPods();
            assert.ok(pod && isReady(pod), "the PostgreSQL pod is Ready");
            assert.strictEqual(pod.spec.nodeName, NODE_NAME);
            const deployment = await api().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/postgres`);
            const readyAt = Date.parse(pod.status.conditions.find((c: any) => c.type === "Ready").lastTransitionTime);
            figure(`PostgreSQL pod Ready ${((readyAt - Date.parse(deployment.metadata.creationTimestamp)) / 1000).toFixed(0)} s after its Deployment was created (API timestamps, 1 s resolution)`);
            const logs = await kubectl("-n", NAMESPACE, "logs", pod.metadata.name, "-c", "postgres");
            assert.match(logs, /PostgreSQL init process complete; ready for start up\./, "initdb by the image's entrypoint on the empty claim");
            assert.match(logs, /database system is ready to accept connections/);
            const uid = (await kubectl("-n", NAMESPACE, "exec", pod.metadata.name, "-c", "postgres", "--", "sh", "-c", "id -u; id -G; stat -c %u:%g \"$PGDATA\"; touch /root-write 2>&1 || echo read-only")).trim().split("\n");
            assert.strictEqual(uid[0], "999", "the server runs as uid 999");
            assert.ok(uid[1].split(" ").includes("999"), "with the pod's fsGroup");
            assert.strictEqual(uid[2], "999:999", "PGDATA belongs to 999");
            assert.match(uid.slice(3).join("\n"), /Read-only file system|read-only/, "the root file system is read-only");
            const events = (await api().get(`/api/v1/namespaces/${NAMESPACE}/events`)).items
                .filter((e: any) => e.type === "Warning" && e.involvedObject?.name === pod.metadata.name).map((e: any) => `${e.reason}: ${e.message}`);
            assert.deepStrictEqual(events.filter((e: string) => /FailedPostStartHook|Unhealthy|Failed/.test(e)), [], "no probe or hook failure");
            assert.ok((await rows()) >= 1, "the seed row, through the API server's port-forward");
            const watcher = (await api().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`)).items.find((d: any) => d.metadata.name !== "postgres");
            await until("the watcher Deployment to be available", 60_000, async () => {
                const current = await api().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${watcher.metadata.name}`);
                return current.status?.availableReplicas === 1 ? true : undefined;
            });
        });

        await step("b. graceful stop: `kubectl delete pod`; the preStop hooks raise no failure; one alert with the pod's name; a clean shutdown; the replacement has every row", async () => {
            const before = await rows();
            const [pod] = await postgresPods();
            const logFile = path.join(logDir, `postgres-${pod.metadata.name}.log`);
            const { spawn } = require("child_process") as typeof import("child_process");
            const follow = spawn(path.join(binDir, "kubectl"), ["--kubeconfig", (plane as ControlPlane).kubeconfig, "-n", NAMESPACE, "logs", "-f", pod.metadata.name, "-c", "postgres"],
                { stdio: ["ignore", fs.openSync(logFile, "w"), "ignore"] });
            const mailsBefore = mail.requests.length;
            await new Promise((resolve) => setTimeout(resolve, 500));
            const faultAt = performance.now();
            await kubectl("-n", NAMESPACE, "delete", "pod", pod.metadata.name, "--wait=false");
            const first = await until("an alert at the fake SendGrid", 90_000, async () => mail.requests.slice(mailsBefore)[0]);
            figure(`graceful stop -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s`);
            await until("a Ready replacement pod", 120_000, async () =>
                ((await postgresPods()).some((p) => p.metadata.uid !== pod.metadata.uid && isReady(p)) ? true : undefined), 500);
            await until("the old pod to be gone", 60_000, async () => ((await postgresPods()).some((p) => p.metadata.uid === pod.metadata.uid) ? undefined : true), 500);
            follow.kill();
            // Room for a late second mail (the watcher), which would be a failure.
            await new Promise((resolve) => setTimeout(resolve, 15_000));
            const mails = mail.requests.slice(mailsBefore);
            const subjects = mails.map((m) => (m.body as any).subject);
            // The preStop hook announces the stop; the watcher stays silent about it and mails the recovery (alerting/src/watch/decide.ts).
            const alerts = mails.filter((m) => !/recovered/.test((m.body as any).subject));
            assert.strictEqual(alerts.length, 1, `exactly one alert; subjects: ${subjects.join(" | ")}`);
            assert.match((alerts[0].body as any).subject, new RegExp(`going down: ${NAMESPACE}/${pod.metadata.name} \\(pod is being stopped\\)`));
            assert.strictEqual(alerts[0].authorization, `Bearer ${secrets.sendgrid}`, "sent with the stack's key");
            assert.ok(mails.filter((m) => /recovered/.test((m.body as any).subject)).length <= 1, `at most one recovery mail; subjects: ${subjects.join(" | ")}`);
            const log = fs.readFileSync(logFile, "utf8");
            assert.match(log, /database system is shut down/, `the server shut down cleanly; its log ends:\n${log.slice(-800)}`);
            assert.strictEqual(await rows(), before, "the replacement, on the same claim, has every row");
            const hookFailures = (await api().get(`/api/v1/namespaces/${NAMESPACE}/events`)).items
                .filter((e: any) => e.involvedObject?.name === pod.metadata.name && /PreStopHook/.test(e.reason)).map((e: any) => `${e.reason}: ${e.message}`);
            assert.deepStrictEqual(hookFailures, [], "no FailedPreStopHook event");
        });

        await step("c. crash: SIGKILL to the postmaster; the kubelet restarts the container; the in-cluster watcher mails once with the reason and exit code", async () => {
            const [pod] = await postgresPods();
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
            const mailsBefore = mail.requests.length;
            const faultAt = performance.now();
            process.kill(Number(postmaster), "SIGKILL");
            const first = await until("the watcher's alert", 90_000, async () => mail.requests.slice(mailsBefore)[0]);
            figure(`crash (SIGKILL) -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s; its subject: ${(first.body as any).subject}`);
            await until("the restarted container to be Ready", 120_000, async () => {
                const [current] = await postgresPods();
                const status = current?.status.containerStatuses?.find((c: any) => c.name === "postgres");
                return current?.metadata.uid === pod.metadata.uid && status?.restartCount > restarts && isReady(current) ? true : undefined;
            }, 500);
            await new Promise((resolve) => setTimeout(resolve, 15_000));
            const mails = mail.requests.slice(mailsBefore);
            const down = mails.filter((m) => /DOWN/.test((m.body as any).subject));
            assert.strictEqual(down.length, 1, `one down alert; subjects: ${mails.map((m) => (m.body as any).subject).join(" | ")}`);
            const text = JSON.stringify(down[0].body);
            assert.match(text, /137/, "the exit code");
            assert.ok(text.includes(pod.metadata.name), "the pod's name");
        });

        await step("d. OOM: a query exceeds the server's memory limit; the kernel kills its backend, the server exits (restart_after_crash=off), the container restarts; one OOMKilled alert", () => oomKill(faults));

        await step("e. node loss: the kubelet stops; node and pod go NotReady; the watcher mails after its threshold; the kubelet returns: one recovery mail", async () => {
            const mailsBefore = mail.requests.length;
            const faultAt = performance.now();
            await stopKubelet(node as NodeState);
            await until("the node to be NotReady", 120_000, async () => {
                const n = await api().get(`/api/v1/nodes/${NODE_NAME}`);
                return n.status.conditions.some((c: any) => c.type === "Ready" && c.status !== "True") ? true : undefined;
            }, 500);
            const notReadyAt = performance.now();
            const first = await until("the watcher's node-loss alert", 120_000, async () => mail.requests.slice(mailsBefore)[0], 500);
            figure(`node loss (kubelet stopped) -> mail: ${((first.receivedAt - faultAt) / 1000).toFixed(2)} s (node NotReady seen after ${((notReadyAt - faultAt) / 1000).toFixed(1)} s; the controller manager's grace period is 20 s here)`);
            assert.match((first.body as any).subject, /DOWN/, "a down alert");
            figure(`  its subject: ${(first.body as any).subject}`);
            const downCount = mail.requests.length - mailsBefore;
            startKubelet(node as NodeState, processes);
            await waitForNodeReady(node as NodeState, processes, plane as ControlPlane, 90_000);
            await until("a Ready PostgreSQL pod", 120_000, async () => ((await postgresPods()).some(isReady) ? true : undefined), 500);
            const recovery = await until("the recovery mail", 90_000, async () => mail.requests.slice(mailsBefore + downCount).find((m) => /recover/i.test((m.body as any).subject)), 500);
            assert.ok(recovery);
            await new Promise((resolve) => setTimeout(resolve, 10_000));
            const subjects = mail.requests.slice(mailsBefore).map((m) => (m.body as any).subject);
            assert.strictEqual(subjects.filter((s) => /recover/i.test(s)).length, 1, `one recovery mail; subjects: ${subjects.join(" | ")}`);
            assert.strictEqual(subjects.filter((s) => !/recover/i.test(s)).length, 1, `one down mail; subjects: ${subjects.join(" | ")}`);
        });

        await step("f. watcher in its Deployment: in-cluster config, projected token, the kubernetes Service through kube-proxy; its Role removed: one \"NOT working\" mail, then one \"work again\"", () => watcherInItsDeployment(faults));

        await step("g. backup: a Job from the backup CronJob reaches the server by its Service name (CoreDNS, ClusterIP) and dumps; its restore check fails on the roles (a known defect); one backup FAILED mail", async () =>
            backupJob(faults, (await (stack as Stack).outputs()).backupCronJob.value));

        await step(`g. one server on the volume: ${LOCK_TRIALS.length} pod deletions under writes (the last forced); each new server starts after the old one's last process ended; rows intact; pg_amcheck clean`, async () => {
            await sql(superuser(), "CREATE TABLE IF NOT EXISTS public.lock_trial (id bigserial PRIMARY KEY, trial int NOT NULL, payload text NOT NULL)");
            const watch = watchServers();
            let waits = 0;
            try {
                for (const [index, force] of LOCK_TRIALS.entries()) {
                    const trial = index + 1;
                    const [pod] = (await postgresPods()).filter(isReady);
                    assert.ok(pod, `trial ${trial}: a Ready PostgreSQL pod`);
                    // About 100 MB of dirty buffers (shared_buffers is 128 MB), so that the shutdown checkpoint takes seconds.
                    await sql(superuser(), `INSERT INTO public.lock_trial (trial, payload) SELECT ${trial}, repeat(md5(g::text), 6) FROM generate_series(1, 400000) g`);
                    const bulk = 400000;
                    const logFile = path.join(logDir, `postgres-${pod.metadata.name}.log`);
                    const { spawn } = require("child_process") as typeof import("child_process");
                    const follow = spawn(path.join(binDir, "kubectl"), ["--kubeconfig", (plane as ControlPlane).kubeconfig, "-n", NAMESPACE, "logs", "-f", "--timestamps",
                        pod.metadata.name, "-c", "postgres"], { stdio: ["ignore", fs.openSync(logFile, "w"), "ignore"] });
                    // A client that keeps writing, one committed row at a time, until the old server refuses it.
                    const acknowledged: number[] = [];
                    let writing = true;
                    const writer = (async () => {
                        while (writing) {
                            try {
                                acknowledged.push(Number((await writeOnce(superuser(), `INSERT INTO public.lock_trial (trial, payload) VALUES (${trial}, 'live') RETURNING id`))[0].id));
                            } catch {
                                await new Promise((resolve) => setTimeout(resolve, 100));
                            }
                        }
                    })();
                    await until("the writer's first rows", 30_000, async () => (acknowledged.length >= 3 ? true : undefined), 50);
                    const deletedAt = Date.now();
                    await kubectl("-n", NAMESPACE, "delete", "pod", pod.metadata.name, "--wait=false", ...(force ? ["--grace-period=0", "--force"] : []));
                    const replacement = await until(`trial ${trial}: a Ready replacement pod`, 300_000, async () =>
                        (await postgresPods()).find((p) => p.metadata.uid !== pod.metadata.uid && isReady(p)), 500);
                    await until(`trial ${trial}: the old server's processes to be gone`, 120_000, async () => (watch.running(pod.metadata.uid) ? undefined : true), 100);
                    writing = false;
                    await writer;
                    follow.kill();
                    const newLog = await kubectl("-n", NAMESPACE, "logs", "--timestamps", replacement.metadata.name, "-c", "postgres");
                    fs.writeFileSync(path.join(logDir, `postgres-${replacement.metadata.name}-trial${trial}.log`), newLog);
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
                    figure(`trial ${trial} (${force ? "force-delete, grace 0" : "delete"}): old server's last process seen ${iso(oldEnd)} (log "shut down" ${iso(oldShutDown)}); ` +
                        `new pod waited for the lock from ${iso(waitedFrom)}, acquired ${iso(acquired)}, "starting PostgreSQL" ${iso(newStart)}, first server process seen ${iso(newFirst)}: ` +
                        `gap ${((newFirst - oldEnd) / 1000).toFixed(3)} s; the old server ended ${((oldEnd - deletedAt) / 1000).toFixed(2)} s after the deletion` +
                        `${waitedFrom === undefined ? "" : `, the new one waited ${((acquired ?? waitedFrom) - waitedFrom) / 1000} s for it`}; ${acknowledged.length} rows acknowledged during the deletion`);
                    waits += waitedFrom === undefined ? 0 : 1;
                    assert.ok(newFirst > oldEnd, `trial ${trial}: the new server's first process (${iso(newFirst)}) came before the old server's last one ended (${iso(oldEnd)})`);
                    assert.ok(acquired !== undefined && newStart !== undefined && acquired <= newStart, `trial ${trial}: the new server started after taking the lock:\n${newLog.slice(0, 1200)}`);
                    if (oldShutDown !== undefined) {
                        assert.ok(acquired >= oldShutDown, `trial ${trial}: the lock was acquired (${iso(acquired)}) before the old server shut down (${iso(oldShutDown)})`);
                    }
                    const present = await sql(superuser(), "SELECT count(*) FILTER (WHERE payload <> 'live') AS bulk, array_agg(id) FILTER (WHERE payload = 'live') AS live FROM public.lock_trial WHERE trial = $1", [trial]);
                    assert.strictEqual(Number(present[0].bulk), bulk, `trial ${trial}: the bulk rows written before the deletion`);
                    const live = new Set(((present[0].live ?? []) as (string | number)[]).map(Number));
                    assert.deepStrictEqual(acknowledged.filter((id) => !live.has(id)), [], `trial ${trial}: every acknowledged row`);
                }
                const overlaps = watch.overlaps();
                assert.deepStrictEqual(overlaps, [], "no moment with server processes of two pods on the host");
                figure(`host samples every ${SERVER_SAMPLE_MS} ms: ${watch.samples()} samples, none with server processes of two pods; ` +
                    `${waits} of ${LOCK_TRIALS.length} replacements found the lock held and waited (without it they would have started beside the old server)`);
                const [pod] = (await postgresPods()).filter(isReady);
                const check = await kubectl("-n", NAMESPACE, "exec", pod.metadata.name, "-c", "postgres", "--", "sh", "-c",
                    "pg_amcheck -h /var/run/postgresql -U \"$POSTGRES_USER\" --all --install-missing --heapallindexed --progress 2>&1; echo \"exit $?\"");
                figure(`pg_amcheck --all --heapallindexed (its page counts are pg_class estimates): ${check.trim().split("\n").slice(-2).join(" | ")}`);
                assert.match(check, /exit 0\s*$/, `pg_amcheck found corruption:\n${check.slice(-2000)}`);
            } finally {
                watch.stop();
            }
        });

        await step("h. update: a new superuser password and image tag roll the pod; the claim (same uid) and every row are kept; the new password works", async () => {
            const claimUid = async () => (await api().get(`/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/postgres-data`)).metadata.uid as string;
            const claim = await claimUid();
            const before = await rows();
            const [pod] = await postgresPods();
            const newPassword = `node-${randomBytes(9).toString("base64url")}`;
            await (stack as Stack).setAllConfig({
                [`${PROJECT}:dbPassword`]: { value: newPassword, secret: true },
                [`${PROJECT}:image`]: { value: images.postgresAlt },
            });
            dbPassword = newPassword;
            const started = Date.now();
            const up = await (stack as Stack).up(engineLog("h-up"));
            assert.strictEqual(up.summary.result, "succeeded");
            figure(`update (password and image tag) up: ${((Date.now() - started) / 1000).toFixed(1)} s`);
            const [current] = await postgresPods();
            assert.ok(current && current.metadata.uid !== pod.metadata.uid && isReady(current), "a new pod is Ready");
            assert.strictEqual(current.spec.containers.find((c: any) => c.name === "postgres").image, images.postgresAlt);
            assert.strictEqual(await claimUid(), claim, "the same claim");
            assert.strictEqual(await rows(), before, "every row, read with the new password");
            await assert.rejects(sql({ ...superuser(), password: DB.password }, "SELECT 1"), /password authentication failed/, "the old password no longer works");
        });

        await step("destroy: `destroy` with allowDataDeletion removes the stack's objects", async () => {
            await (stack as Stack).destroy(engineLog("destroy"));
            await until("the namespace to be gone", 120_000, async () => ((await api().find(`/api/v1/namespaces/${NAMESPACE}`)) ? undefined : true), 1000);
            await (stack as Stack).workspace.removeStack(STACK);
        });
    } finally {
        await step("cleanup: every process stopped; containers, mounts, netns, bridge, nftables and iptables rules, cgroups removed; nothing left", async () => {
            await forward?.close();
            await relay?.close();
            await mail.close();
            const problems: string[] = [];
            // The control plane, with time to finish its shutdown; the time is reported.
            const stopControlPlane = async () => {
                const started = Date.now();
                for (const name of ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]) {
                    const pids = processesMentioning(path.join(tmp, "cluster")).filter((p) => p.split(": ")[1].includes(`/${name} `))
                        .map((p) => Number(p.split(":")[0]));
                    pids.forEach((pid) => { try { process.kill(pid, "SIGTERM"); } catch { /* gone */ } });
                    const stopped = await until(`${name} to stop`, 30_000, async () => (pids.every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined), 100)
                        .catch(() => false);
                    if (!stopped) {
                        problems.push(`${name} did not stop within 30 s of SIGTERM`);
                    }
                }
                figure(`control plane stop ${((Date.now() - started) / 1000).toFixed(1)} s`);
            };
            if (node) {
                const { left, notes, seconds } = await stopNode(node, stopControlPlane);
                figure(`node teardown (control plane included) ${seconds.toFixed(1)} s`);
                problems.push(...notes, ...left.map((item) => `left: ${item}`));
            }
            const killed = await processes.stopAll();
            problems.push(...killed.map((name) => `${name} needed SIGKILL`));
            problems.push(...processesMentioning(tmp).map((p) => `left: process ${p}`));
            assert.deepStrictEqual(problems, [], "the host is as it was");
        }, true);
    }
    const { allPassed, seconds, closing } = tally();
    if (allPassed && !process.env.E2E_KEEP) {
        fs.rmSync(tmp, { recursive: true, force: true });
        console.log(`\nnode run wall time ${seconds} s; its directory is removed (E2E_KEEP=1 keeps it)`);
    } else {
        console.log(`\nnode run wall time ${seconds} s; logs kept in ${logDir}`);
    }
    if (figures.length > 0) {
        console.log(`figures:\n${figures.map((f) => `  ${f}`).join("\n")}`);
    }
    console.log(closing);
    return allPassed ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
});

/**
 * The watcher process as its Deployment runs it (command and environment from the program under
 * mocks), against a fake Kubernetes API and a fake SendGrid API on loopback.
 */
import * as assert from "assert";
import { SENDGRID_KEY_ENV } from "../../config/alerts";
import { ago, MINUTE, STARTED_AT } from "../../testing/clock";
import { devStack } from "../../testing/devStack";
import { ACCEPTED, FakeSendgrid, ScriptedAnswer, startFakeSendgrid } from "../../testing/fakeSendgrid";
import { backupJob, FakeKubernetes, FakeKubernetesOptions, postgresPod, startFakeKubernetes, TOKEN, untrustedCertificate } from "../../testing/fakeKubernetes";
import { materialise, Materialised } from "../../testing/kubelet";
import { ProgramRun, runProgram } from "../../testing/program";
import { spawnWatcher, WatcherProcess } from "../../testing/watcherProcess";
import { utc } from "./message";

const API_KEY = "SG.watcherTestKey00000000.watcher-test-secret-never-printed-xxxxxxxxx";

describe("the pod watcher against a fake Kubernetes API and a fake SendGrid API", function () {
    this.timeout(30_000);
    let run: ProgramRun;
    let labels: Record<string, string>;
    let kube: FakeKubernetes | undefined;
    let mail: FakeSendgrid | undefined;
    let pod: Materialised | undefined;
    let watchers: WatcherProcess[] = [];
    const POD_NAME = "postgres-6b9c-qwert";
    const OOM_LOG_LINE = `${utc(new Date(STARTED_AT - MINUTE))} [7] FATAL:  out of memory`;
    const podsPath = "/api/v1/namespaces/workshop/pods";
    const isWatch = (request: { path: string; query: URLSearchParams }) => request.path === podsPath && request.query.get("watch") === "true";
    const lists = () => kube!.requests.filter((r) => r.path === podsPath && r.query.get("watch") !== "true").length;
    const watcherContainer = () => run.deployment("pod-watcher").inputs.spec.template.spec.containers[0];
    /**
     * A short retry; the rest of the environment is the Deployment's own. The blind-watcher bound stays
     * at its default here (a loaded machine may take seconds to open a watch); the tests of a watcher
     * that cannot watch shorten it, and wait for its mail.
     */
    const FAST = { WATCH_RETRY_SECONDS: "0.02" };
    const BLIND_FAST = { BLIND_ALERT_SECONDS: "0.25" };
    /** Where the pods are watched and only the Jobs cannot be: long enough for the pod watch to open on a loaded machine. */
    const BLIND_JOBS = { BLIND_ALERT_SECONDS: "5" };

    /** A watcher process in `pod` (a new pod unless given), from its Deployment's command and environment. */
    const startWatcher = (env: Record<string, string> = {}, inPod?: Materialised) => {
        pod = inPod ?? materialise(run, run.deployment("pod-watcher"), "watcher", { name: "pod-watcher-1", node: "kind-worker", ip: "10.244.0.20" });
        const watcher = spawnWatcher(pod, watcherContainer().command, { ...pod.hostEnv, KUBECONFIG: kube!.kubeconfig, SENDGRID_API_URL: mail!.url, ...FAST, ...env });
        watchers.push(watcher);
        return watcher;
    };
    /** A duration the watcher rounded to seconds lies between what the test set up and what has passed since, on this machine's clock. */
    const assertSecondsBetween = (seconds: number, leastMs: number, mostMs: number) =>
        assert.ok(seconds >= Math.round(leastMs / 1000) && seconds <= Math.round(mostMs / 1000), `${seconds}s is not within ${leastMs} and ${mostMs} ms`);
    /** The fakes with these pods, and a watcher that has listed and opened its watch. */
    const setUp = async (options: { pods?: any[]; answers?: ScriptedAnswer[]; kube?: FakeKubernetesOptions; env?: Record<string, string> } = {}) => {
        kube = await startFakeKubernetes("workshop", options.pods ?? [postgresPod({ name: POD_NAME, labels })], options.kube);
        kube.setLog(POD_NAME, `${utc(new Date(STARTED_AT - 2 * MINUTE))} [1] LOG:  database system is ready\n${OOM_LOG_LINE}\n`);
        mail = await startFakeSendgrid(options.answers ?? [ACCEPTED]);
        return startWatcher(options.env);
    };
    const watching = async (watcher: WatcherProcess) => {
        await kube!.waitForRequest(isWatch);
        await watcher.printed(/"ready":true/);
    };

    before(async () => {
        const { config, secretKeys } = devStack();
        run = await runProgram(config, secretKeys, { env: { [SENDGRID_KEY_ENV]: API_KEY } });
        labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
    });

    afterEach(async () => {
        for (const watcher of watchers) {
            if (watcher.running()) {
                assert.strictEqual(await watcher.stop(), 0, "the watcher stops with status 0 on SIGTERM");
            }
            assert.ok(!watcher.output().includes(API_KEY) && !watcher.output().includes(TOKEN), "no secret in the watcher's output");
        }
        watchers = [];
        await kube?.close();
        await mail?.close();
        pod?.cleanup();
    });

    it("lists and watches only the PostgreSQL pods, with its service account token, asking for bookmarks", async () => {
        await watching(await setUp());
        const [list] = kube!.requests.filter((r) => r.path === podsPath);
        assert.match(list.query.get("labelSelector") ?? "", /app\.kubernetes\.io\/name=postgresql/);
        assert.strictEqual(list.authorization, `Bearer ${TOKEN}`);
        const watch = await kube!.waitForRequest(isWatch);
        assert.ok(Number(watch.query.get("resourceVersion")) > 0, "the watch starts where the list ended");
        assert.strictEqual(watch.query.get("allowWatchBookmarks"), "true");
    });

    it("mails an OOM kill with reason, exit code, restarts, node and the last log lines", async () => {
        await watching(await setUp());
        kube!.emit("MODIFIED", postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        const request = await mail!.nextRequest();
        assert.strictEqual(request.path, "/v3/mail/send");
        assert.strictEqual(request.authorization, `Bearer ${API_KEY}`);
        assert.strictEqual(request.body.subject, `[workshop-postgres] PostgreSQL pod is DOWN: workshop/${POD_NAME} (OOMKilled)`);
        const text: string = request.body.content[0].value;
        for (const line of ["Exit code: 137", "Restarts: 1", "Node: kind-worker", "Pod IP: 10.244.0.9", "Noticed by: pod watcher", `  ${OOM_LOG_LINE}`]) {
            assert.ok(text.split("\n").includes(line), `mail lacks ${JSON.stringify(line)}:\n${text}`);
        }
        const logRequest = kube!.requests.find((r) => r.path.endsWith(`/pods/${POD_NAME}/log`));
        assert.strictEqual(logRequest?.query.get("previous"), "true");
        assert.strictEqual(logRequest?.query.get("container"), "postgres");
    });

    it("resumes a closed watch from its resource version (kept fresh by bookmarks), without a new list, and still alerts", async () => {
        await watching(await setUp());
        const firstWatch = await kube!.waitForRequest(isWatch);
        const bookmarked = kube!.bookmark();
        kube!.dropWatches(true);
        const resumed = await kube!.waitForRequest((r) => isWatch(r) && r !== firstWatch);
        assert.strictEqual(resumed.query.get("resourceVersion"), bookmarked, "resumed from the bookmark, not from the list");
        assert.ok(Number(bookmarked) > Number(firstWatch.query.get("resourceVersion")));
        assert.strictEqual(lists(), 1);
        kube!.emit("MODIFIED", postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "Error", exitCode: 1 } }));
        const request = await mail!.nextRequest();
        assert.match(request.body.subject, /PostgreSQL pod is DOWN: .* \(Error\)$/);
    });

    it("relists after 410 Gone and alerts on what changed while it was away", async () => {
        await watching(await setUp());
        kube!.changeWhileCompacted(postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        kube!.dropWatches();
        const request = await mail!.nextRequest();
        assert.match(request.body.subject, /\(OOMKilled\)$/);
        assert.strictEqual(lists(), 2, "a second list after the 410");
    });

    it("sends no false alert after 410 Gone when a rollout replaced the pod inside the gap", async () => {
        const watcher = await setUp();
        await watching(watcher);
        const now = ago(0);
        kube!.changeWhileCompacted(postgresPod({ name: POD_NAME, labels }), "DELETED");
        const replacement = { name: "postgres-6b9c-zxcvb", uid: "uid-2", labels, createdAt: now, readyChangedAt: now };
        kube!.changeWhileCompacted(postgresPod(replacement), "ADDED");
        kube!.dropWatches();
        let listsSeen = 0;
        const relist = await kube!.waitForRequest((r) => r.path === podsPath && r.query.get("watch") !== "true" && ++listsSeen === 2);
        await kube!.waitForRequest((r) => isWatch(r) && kube!.requests.indexOf(r) > kube!.requests.indexOf(relist));
        // The next failure is the first mail: no "deleted without a graceful stop" came before it.
        kube!.emit("MODIFIED", postgresPod({ ...replacement, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        const first = await mail!.nextRequest();
        assert.strictEqual(first.body.subject, "[workshop-postgres] PostgreSQL pod is DOWN: workshop/postgres-6b9c-zxcvb (OOMKilled)", watcher.output());
    });

    it("mails a forced deletion once, not every following event", async () => {
        const watcher = await setUp();
        await watching(watcher);
        const deleted = postgresPod({ name: POD_NAME, labels });
        deleted.metadata.deletionTimestamp = ago(0);
        deleted.metadata.deletionGracePeriodSeconds = 0;
        kube!.emit("DELETED", deleted);
        const request = await mail!.nextRequest();
        assert.match(request.body.subject, /\(pod deleted without a graceful stop\)$/, watcher.output());
        kube!.emit("ADDED", postgresPod({ name: "postgres-6b9c-zxcvb", uid: "uid-2", labels, ready: false }));
        kube!.emit("MODIFIED", postgresPod({ name: "postgres-6b9c-zxcvb", uid: "uid-2", labels, ready: false, restarts: 1, lastTerminated: { reason: "Error", exitCode: 1, finishedAt: ago(0) } }));
        // The watcher saw the crash and folded it into the open incident instead of mailing again.
        await watcher.printed(/"watcher":"failure-counted","time":"[^"]+","reason":"Error"/);
        assert.strictEqual(mail!.requests.length, 1, watcher.output());
    });

    it("dates a node loss from the pod's NotReady, and does not wait for a log its lost node cannot serve", async () => {
        const notReadyAt = new Date(ago(70_000));
        const lost = postgresPod({ name: POD_NAME, labels, ready: false, readyChangedAt: notReadyAt.toISOString(), conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" }] });
        const watcher = await setUp({ pods: [lost] });
        const request = await mail!.nextRequest();
        const down = /\(no ready PostgreSQL pod for (\d+)s \(postgres-6b9c-qwert: NotReady\)\)$/.exec(request.body.subject);
        assert.ok(down, request.body.subject);
        assertSecondsBetween(Number(down[1]), 70_000, Date.now() - notReadyAt.getTime());
        assert.ok(request.body.content[0].value.includes(`When: ${utc(notReadyAt)}`), request.body.content[0].value);
        await watcher.printed(/"watcher":"log-skipped".*"why":"node lost"/);
        assert.ok(!kube!.requests.some((r) => r.path.endsWith("/log")), "no log read");
    });

    describe("when it cannot watch", () => {
        const notWorking = /^\[workshop-postgres\] PostgreSQL pod alerts are NOT working: workshop\/pod-watcher-1 \((.*)\)$/;

        /** Mailed once: the failures go on, liveness fails, and still one mail. */
        const mailedOnce = async (watcher: WatcherProcess, reason: RegExp) => {
            const request = await mail!.nextRequest();
            assert.match(request.body.subject, notWorking);
            assert.match(notWorking.exec(request.body.subject)![1], reason);
            assert.ok(request.body.content[0].value.includes("crashes, OOM kills, evictions and lost pods are not mailed"));
            await watcher.printed(/"live":false/);
            await watcher.printed(/"failuresInARow":6,/);
            assert.strictEqual(mail!.requests.length, 1, watcher.output());
            const probes = watcherContainer();
            assert.notStrictEqual(await pod!.probe(probes.readinessProbe.exec.command), 0, "not ready");
            assert.notStrictEqual(await pod!.probe(probes.livenessProbe.exec.command), 0, "not live: Kubernetes restarts it");
        };

        it("with a wrong token (401): not ready, mails once that pod alerts are not working, then fails liveness", async () => {
            const watcher = await setUp({ kube: { clientToken: "a-stale-token" }, env: BLIND_FAST });
            await mailedOnce(watcher, /^the API server does not accept the watcher's token \(HTTP 401/);
        });

        it("with a certificate it does not trust (TLS)", async () => {
            const watcher = await setUp({ kube: { tls: untrustedCertificate() }, env: BLIND_FAST });
            await mailedOnce(watcher, /^TLS with the API server fails \(\w*(CERT|SIGNED)\w*\)$/);
        });

        it("denied by RBAC (403): mails the refusal once, and once more when it watches again; the probes follow", async () => {
            kube = await startFakeKubernetes("workshop", [postgresPod({ name: POD_NAME, labels })]);
            kube.forbid(true);
            mail = await startFakeSendgrid([ACCEPTED]);
            const watcher = startWatcher(BLIND_FAST);
            const probes = watcherContainer();
            await mailedOnce(watcher, /^the watcher's Role does not allow it \(HTTP 403: pods is forbidden: User "system:serviceaccount:workshop:pod-watcher" cannot list resource "pods"/);
            kube.forbid(false);
            const again = await mail.nextRequest();
            assert.strictEqual(again.body.subject, "[workshop-postgres] PostgreSQL pod alerts work again: workshop/pod-watcher-1 (the pod watcher watches again)");
            await watcher.printed(/"ready":true,"live":true/);
            assert.strictEqual(await pod!.probe(probes.readinessProbe.exec.command), 0, "ready");
            assert.strictEqual(await pod!.probe(probes.livenessProbe.exec.command), 0, "live");
            assert.strictEqual(mail.requests.length, 2);
        });
    });

    describe("watching the backup Jobs", () => {
        const jobsPath = "/apis/batch/v1/namespaces/workshop/jobs";
        const subject = (headline: string, reason: string) => `[workshop-postgres] ${headline}: workshop/WORKSHOP (${reason})`;
        const text = (request: { body: any }): string[] => request.body.content[0].value.split("\n");
        let jobLabels: Record<string, string>;
        before(() => {
            jobLabels = run.one("kubernetes:batch/v1:CronJob").inputs.spec.jobTemplate.metadata.labels;
        });
        /** Starts a Job and waits until the watcher has seen it running, as the API's watch tells it before it ends. */
        const started = async (watcher: WatcherProcess, name: string) => {
            kube!.emit("ADDED", backupJob({ name, labels: jobLabels, outcome: "running" }));
            await watcher.printed(new RegExp(`"watcher":"backup-job","time":"[^"]+","job":"${name}","outcome":"running"`));
        };
        const ended = (name: string, outcome: "succeeded" | "failed") => {
            const finishedAt = new Date();
            kube!.emit("MODIFIED", backupJob({ name, labels: jobLabels, outcome, finishedAt: finishedAt.toISOString() }));
            return finishedAt;
        };

        it("mails a failed Job once, counts the next failure into it, also across a container restart, and mails once when a backup succeeds", async () => {
            const watcher = await setUp();
            await watching(watcher);
            const list = await kube!.waitForRequest((r) => r.path === jobsPath && r.query.get("watch") !== "true");
            assert.strictEqual(list.query.get("labelSelector"), "app.kubernetes.io/name=postgresql-backup,app.kubernetes.io/instance=postgres-backup,app.kubernetes.io/component=backup");
            await started(watcher, "postgres-backup-1");
            const failedAt = ended("postgres-backup-1", "failed");
            const failure = await mail!.nextRequest();
            assert.strictEqual(failure.body.subject, subject("PostgreSQL backup FAILED", "BackoffLimitExceeded"));
            for (const line of [`When: ${utc(failedAt)}`, "Backup Job: postgres-backup-1", "Noticed by: pod watcher", "Its log: kubectl -n workshop logs job/postgres-backup-1",
                `Check: kubectl -n workshop get jobs -l ${list.query.get("labelSelector")}`]) {
                assert.ok(text(failure).includes(line), `mail lacks ${JSON.stringify(line)}:\n${text(failure).join("\n")}`);
            }
            await started(watcher, "postgres-backup-2");
            ended("postgres-backup-2", "failed");
            await watcher.printed(/"watcher":"backup-failure-counted","time":"[^"]+","reason":"postgres-backup-2: BackoffLimitExceeded"/);
            // The same pod: the container restarts with its emptyDir, and its state.
            assert.strictEqual(await watcher.stop(), 0);
            const restarted = startWatcher({}, pod);
            await restarted.printed(/"watcher":"resumed"/);
            await restarted.printed(/"ready":true/);
            await started(restarted, "postgres-backup-3");
            const succeededAt = ended("postgres-backup-3", "succeeded");
            const recovery = await mail!.nextRequest();
            assert.strictEqual(recovery.body.subject, subject("PostgreSQL backups succeed again", "a backup succeeded"));
            for (const line of [`When: ${utc(succeededAt)}`, "Backup Job: postgres-backup-3", "During the incident: 1 further failed backup Job(s), not mailed one by one."]) {
                assert.ok(text(recovery).includes(line), `mail lacks ${JSON.stringify(line)}:\n${text(recovery).join("\n")}`);
            }
            assert.ok(!text(recovery).some((line) => line.includes("an earlier watcher may have mailed it")), "the restarted container knew it had mailed the failure");
            assert.strictEqual(mail!.requests.length, 2, restarted.output());
        });

        it("mails once when no backup has succeeded for twice the schedule's interval, and once when one does", async () => {
            const watchedFrom = Date.now();
            const watcher = await setUp({ env: { BACKUP_INTERVAL_SECONDS: "0.2" } });
            const stopped = await mail!.nextRequest();
            const since = /^\[workshop-postgres\] PostgreSQL backups STOPPED: workshop\/WORKSHOP \(no backup has succeeded for (\d+)s\)$/.exec(stopped.body.subject);
            assert.ok(since, stopped.body.subject);
            assertSecondsBetween(Number(since[1]), 400, Date.now() - watchedFrom);
            assert.ok(text(stopped).some((line) => line.startsWith("No successful backup Job seen since ")), text(stopped).join("\n"));
            await started(watcher, "postgres-backup-1");
            ended("postgres-backup-1", "succeeded");
            const recovery = await mail!.nextRequest();
            assert.strictEqual(recovery.body.subject, subject("PostgreSQL backups succeed again", "a backup succeeded"));
            assert.strictEqual(mail!.requests.length, 2, watcher.output());
        });

        it("denied Jobs by RBAC (403): unready but live, mails once that backup alerts are not working, and once when they work again", async () => {
            kube = await startFakeKubernetes("workshop", [postgresPod({ name: POD_NAME, labels })]);
            kube.forbid(true, "jobs");
            mail = await startFakeSendgrid([ACCEPTED]);
            const watcher = startWatcher(BLIND_JOBS);
            const probes = watcherContainer();
            const refused = await mail.nextRequest();
            assert.strictEqual(refused.body.subject, "[workshop-postgres] PostgreSQL backup alerts are NOT working: workshop/pod-watcher-1 (the watcher's Role does not allow it " +
                "(HTTP 403: jobs.batch is forbidden: User \"system:serviceaccount:workshop:pod-watcher\" cannot list resource \"jobs\" in API group \"batch\" in the namespace \"workshop\"))");
            assert.ok(text(refused).includes("Its pod alerts still work; one more mail follows when it watches again."), text(refused).join("\n"));
            assert.notStrictEqual(await pod!.probe(probes.readinessProbe.exec.command), 0, "not ready");
            assert.strictEqual(await pod!.probe(probes.livenessProbe.exec.command), 0, "live: a restart would interrupt the pod alerts");
            kube.forbid(false, "jobs");
            const again = await mail.nextRequest();
            assert.strictEqual(again.body.subject, "[workshop-postgres] PostgreSQL backup alerts work again: workshop/pod-watcher-1 (the pod watcher watches the backup Jobs again)");
            await watcher.printed(/"ready":true,"live":true/);
            assert.strictEqual(mail.requests.length, 2);
        });
    });

    describe("on SIGTERM", () => {
        const oom = (finishedAt?: string) => postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137, finishedAt } });

        it("stops taking events but finishes the send in flight, then exits 0", async () => {
            const watcher = await setUp({ answers: [{ status: 202, held: true }] });
            await watching(watcher);
            kube!.emit("MODIFIED", oom());
            await mail!.nextRequest();
            const exited = watcher.stop();
            await watcher.printed(/"watcher":"stopping".*"pending":1/);
            assert.ok(watcher.running(), "still running while its send is pending");
            mail!.release();
            assert.strictEqual(await exited, 0);
            assert.match(watcher.output(), /"watcher":"alert".*"outcome":"sent"[^]*"watcher":"stopped".*"handedOver":0/);
        });

        it("hands a send it cannot finish in its budget to the restarted container, which mails it once", async () => {
            const watcher = await setUp({ answers: [{ status: 202, hang: true }, ACCEPTED], env: { TERMINATION_GRACE_SECONDS: "3.3" } });
            await watching(watcher);
            kube!.emit("MODIFIED", oom(ago(0)));
            const first = await mail!.nextRequest();
            assert.strictEqual(await watcher.stop(), 0);
            assert.match(watcher.output(), /"watcher":"stopped".*"handedOver":1/);
            // The same pod: the container restarts with its emptyDir.
            const restarted = startWatcher({}, pod);
            await restarted.printed(/"watcher":"resumed".*"pending":1/);
            const second = await mail!.nextRequest();
            assert.strictEqual(second.body.subject, first.body.subject);
            // It knows the pod's restarts: the next crash is counted, not a third mail.
            kube!.emit("MODIFIED", postgresPod({ name: POD_NAME, labels, ready: false, restarts: 2, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
            await restarted.printed(/"watcher":"failure-counted"/);
            assert.strictEqual(mail!.requests.length, 2, restarted.output());
        });

        it("leaves a crash it could not mail to a new watcher pod, which finds it in the pod's status", async () => {
            const endedAt = new Date(ago(30_000));
            const watcher = await setUp({ answers: [{ status: 202, hang: true }, ACCEPTED], env: { TERMINATION_GRACE_SECONDS: "3.3" } });
            await watching(watcher);
            kube!.emit("MODIFIED", oom(endedAt.toISOString()));
            await mail!.nextRequest();
            assert.strictEqual(await watcher.stop(), 0);
            pod!.cleanup();
            // A new pod (a rollout or a drain): a fresh emptyDir, nothing handed over but the pod's status.
            startWatcher();
            const request = await mail!.nextRequest();
            assert.match(request.body.subject, /PostgreSQL pod is DOWN: workshop\/postgres-6b9c-qwert \(OOMKilled\)$/);
            const text: string = request.body.content[0].value;
            assert.ok(text.includes(`When: ${utc(endedAt)}`), text);
            assert.ok(text.includes("Found in the pod's status"), text);
        });
    });
});

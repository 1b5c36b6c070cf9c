import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { devStack } from "./support/devStack";
import { ACCEPTED, FakeSendgrid, startFakeSendgrid } from "./support/fakeSendgrid";
import { FakeKubernetes, postgresPod, startFakeKubernetes, TOKEN } from "./support/fakeKubernetes";
import { materialise, Materialised } from "./support/kubelet";
import { ProgramRun, runProgram } from "./support/program";

const API_KEY = "SG.watcher-test-key";

describe("the pod watcher under mocks", () => {
    let run: ProgramRun;
    before(async () => {
        const { config, secretKeys } = devStack();
        run = await runProgram({ ...config, sendgridApiKey: API_KEY }, [...secretKeys, "sendgridApiKey"]);
    });

    it("has a namespaced Role that only reads pods and their logs: no secrets, no wildcards, no ClusterRole", () => {
        const role = run.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs;
        assert.strictEqual(role.metadata.namespace, "workshop");
        assert.deepStrictEqual(role.rules, [
            { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
        ]);
        assert.ok(!JSON.stringify(role.rules).includes("*"));
        assert.ok(!JSON.stringify(role.rules).includes("secrets"));
        assert.strictEqual(run.resources.filter((r) => /ClusterRole/.test(r.type)).length, 0);
    });

    it("binds the Role to the watcher's own ServiceAccount, which only the watcher's pod uses", () => {
        const account = run.one("kubernetes:core/v1:ServiceAccount").inputs;
        const binding = run.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").inputs;
        assert.deepStrictEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-watcher" });
        assert.deepStrictEqual(binding.subjects, [{ kind: "ServiceAccount", name: account.metadata.name, namespace: "workshop" }]);
        const watcherPod = run.deployment("pod-watcher").inputs.spec.template.spec;
        assert.strictEqual(watcherPod.serviceAccountName, account.metadata.name);
        assert.strictEqual(watcherPod.automountServiceAccountToken, true);
        const postgresPod = run.deployment("postgres").inputs.spec.template.spec;
        assert.strictEqual(postgresPod.automountServiceAccountToken, false);
        assert.strictEqual(postgresPod.serviceAccountName, undefined);
    });

    it("runs one restricted, resource-bounded watcher on the alert image, watching the PostgreSQL pod's labels", () => {
        const watcher = run.deployment("pod-watcher").inputs.spec;
        assert.strictEqual(watcher.replicas, 1);
        assert.deepStrictEqual(watcher.strategy, { type: "Recreate" });
        const container = watcher.template.spec.containers[0];
        const sidecar = run.deployment("postgres").inputs.spec.template.spec.containers.find((c: any) => c.name === "alert");
        assert.strictEqual(container.image, sidecar.image);
        assert.strictEqual(container.securityContext.allowPrivilegeEscalation, false);
        assert.deepStrictEqual(container.securityContext.capabilities, { drop: ["ALL"] });
        assert.ok(container.resources.requests.memory && container.resources.limits.memory);
        const selector = container.env.find((e: any) => e.name === "WATCH_SELECTOR").value;
        const podLabels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        for (const pair of selector.split(",")) {
            const [key, value] = pair.split("=");
            assert.strictEqual(podLabels[key], value, pair);
        }
    });

    it("ships its bundle compressed in a ConfigMap under the 1 MiB limit", () => {
        const bundle = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.inputs.binaryData?.["pod-watcher.js.gz"])!;
        assert.ok(Buffer.byteLength(JSON.stringify(bundle.inputs)) < 1024 * 1024);
    });

    it("is not deployed when watcherEnabled is false", async () => {
        const { config, secretKeys } = devStack();
        const off = await runProgram({ ...config, watcherEnabled: "false" }, secretKeys);
        assert.strictEqual(off.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role").length, 0);
        assert.strictEqual(off.ofType("kubernetes:core/v1:ServiceAccount").length, 0);
        assert.strictEqual(off.ofType("kubernetes:apps/v1:Deployment").length, 1);
    });
});

describe("the pod watcher against a fake Kubernetes API and a fake SendGrid API", function () {
    this.timeout(30_000);
    let run: ProgramRun;
    let kube: FakeKubernetes;
    let mail: FakeSendgrid;
    let pod: Materialised;
    let watcher: ChildProcess | undefined;
    let output = "";
    let outputWaiters: (() => void)[] = [];
    /** Resolves once the watcher has printed a line matching `pattern`. */
    const printed = (pattern: RegExp) => new Promise<void>((resolve) => {
        const check = () => {
            if (pattern.test(output)) {
                resolve();
                return true;
            }
            return false;
        };
        if (!check()) {
            outputWaiters.push(() => { check(); });
        }
    });
    const POD_NAME = "postgres-6b9c-qwert";
    const podsPath = "/api/v1/namespaces/workshop/pods";
    const isWatch = (request: { path: string; query: URLSearchParams }) => request.path === podsPath && request.query.get("watch") === "true";
    const lists = () => kube.requests.filter((r) => r.path === podsPath && r.query.get("watch") !== "true").length;

    before(async () => {
        const { config, secretKeys } = devStack();
        run = await runProgram({ ...config, sendgridApiKey: API_KEY }, [...secretKeys, "sendgridApiKey"]);
    });

    beforeEach(async () => {
        const labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        kube = await startFakeKubernetes("workshop", [postgresPod({ name: POD_NAME, labels })]);
        kube.setLog(POD_NAME, "2026-11-24 08:00:00 UTC [1] LOG:  database system is ready\n2026-11-24 08:01:00 UTC [7] FATAL:  out of memory\n");
        mail = await startFakeSendgrid([ACCEPTED]);
        pod = materialise(run, run.deployment("pod-watcher"), "watcher", { name: "pod-watcher-1", node: "kind-worker", ip: "10.244.0.20" });
        const container = run.deployment("pod-watcher").inputs.spec.template.spec.containers[0];
        const [command, ...args] = pod.hostCommand(container.command);
        output = "";
        watcher = spawn(command === "node" ? process.execPath : command, args, {
            env: { ...pod.env, KUBECONFIG: kube.kubeconfig, SENDGRID_API_URL: mail.url, PATH: path.dirname(process.execPath) },
            stdio: ["ignore", "pipe", "pipe"],
        });
        outputWaiters = [];
        const collect = (chunk: Buffer) => {
            output += chunk;
            outputWaiters.forEach((waiter) => waiter());
        };
        watcher.stdout?.on("data", collect);
        watcher.stderr?.on("data", collect);
        await kube.waitForRequest(isWatch);
    });

    afterEach(async () => {
        if (watcher && watcher.exitCode === null) {
            const exited = new Promise((resolve) => watcher!.once("exit", resolve));
            watcher.kill("SIGTERM");
            assert.strictEqual(await exited, 0, "the watcher stops with status 0 on SIGTERM");
        }
        await kube.close();
        await mail.close();
        pod.cleanup();
    });

    it("lists and watches only the PostgreSQL pods, with its service account token", async () => {
        const [list] = kube.requests.filter((r) => r.path === podsPath);
        assert.match(list.query.get("labelSelector") ?? "", /app\.kubernetes\.io\/name=postgresql/);
        assert.strictEqual(list.authorization, `Bearer ${TOKEN}`);
        const watch = await kube.waitForRequest(isWatch);
        assert.ok(Number(watch.query.get("resourceVersion")) > 0, "the watch starts where the list ended");
    });

    it("mails an OOM kill with reason, exit code, restarts, node and the last log lines", async () => {
        const labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        kube.emit("MODIFIED", postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        const request = await mail.nextRequest();
        assert.strictEqual(request.path, "/v3/mail/send");
        assert.strictEqual(request.authorization, `Bearer ${API_KEY}`);
        assert.strictEqual(request.body.subject, `[workshop-postgres] PostgreSQL pod is DOWN: workshop/${POD_NAME} (OOMKilled)`);
        const text: string = request.body.content[0].value;
        for (const line of ["Exit code: 137", "Restarts: 1", "Node: kind-worker", "Pod IP: 10.244.0.9", "Noticed by: pod watcher", "  2026-11-24 08:01:00 UTC [7] FATAL:  out of memory"]) {
            assert.ok(text.split("\n").includes(line), `mail lacks ${JSON.stringify(line)}:\n${text}`);
        }
        const logRequest = kube.requests.find((r) => r.path.endsWith(`/pods/${POD_NAME}/log`));
        assert.strictEqual(logRequest?.query.get("previous"), "true");
        assert.strictEqual(logRequest?.query.get("container"), "postgres");
    });

    it("resumes a dropped watch from its resource version, without a new list, and still alerts", async () => {
        const firstWatch = await kube.waitForRequest(isWatch);
        kube.dropWatches();
        const resumed = await kube.waitForRequest((r) => isWatch(r) && r !== firstWatch);
        assert.strictEqual(resumed.query.get("resourceVersion"), firstWatch.query.get("resourceVersion"));
        assert.strictEqual(lists(), 1);
        const labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        kube.emit("MODIFIED", postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "Error", exitCode: 1 } }));
        const request = await mail.nextRequest();
        assert.match(request.body.subject, /PostgreSQL pod is DOWN: .* \(Error\)$/);
    });

    it("relists after 410 Gone and alerts on what changed while it was away", async () => {
        const labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        kube.changeWhileCompacted(postgresPod({ name: POD_NAME, labels, ready: false, restarts: 1, lastTerminated: { reason: "OOMKilled", exitCode: 137 } }));
        kube.dropWatches();
        const request = await mail.nextRequest();
        assert.match(request.body.subject, /\(OOMKilled\)$/);
        assert.strictEqual(lists(), 2, "a second list after the 410");
    });

    it("mails a forced deletion once, not every following event", async () => {
        const labels = run.deployment("postgres").inputs.spec.template.metadata.labels;
        const deleted = postgresPod({ name: POD_NAME, labels });
        deleted.metadata.deletionTimestamp = new Date().toISOString();
        deleted.metadata.deletionGracePeriodSeconds = 0;
        kube.emit("DELETED", deleted);
        const request = await mail.nextRequest();
        assert.match(request.body.subject, /\(pod deleted without a graceful stop\)$/, output);
        kube.emit("ADDED", postgresPod({ name: "postgres-6b9c-zxcvb", uid: "uid-2", labels, ready: false }));
        kube.emit("MODIFIED", postgresPod({ name: "postgres-6b9c-zxcvb", uid: "uid-2", labels, ready: false, restarts: 1, lastTerminated: { reason: "Error", exitCode: 1 } }));
        // The watcher saw the crash and folded it into the open incident instead of mailing again.
        await printed(/"watcher":"failure-counted","time":"[^"]+","reason":"Error"/);
        assert.strictEqual(mail.requests.length, 1, output);
    });
});

import * as assert from "assert";
import * as fs from "fs";
import { SENDGRID_KEY_ENV } from "../config/alerts";
import { devStack } from "../testing/devStack";
import { ACCEPTED, FakeSendgrid, startFakeSendgrid } from "../testing/fakeSendgrid";
import { containersUnavailable, materialise, Materialised, NODE_IMAGE, runCommand, startContainer } from "../testing/kubelet";
import { runProgram } from "../testing/program";

const API_KEY = "SG.hookTestKey00000000000.hook-test-secret-never-printed-xxxxxxxxxxxx";
const POD = { name: "postgres-5f7c9d-x2k4q", node: "kind-worker", ip: "10.244.0.12" };

describe("the preStop hook, run as Kubernetes would run it", function () {
    this.timeout(30_000);
    let api: FakeSendgrid;
    beforeEach(async () => {
        api = await startFakeSendgrid([ACCEPTED]);
    });
    afterEach(async () => {
        await api.close();
    });

    /** The dev stack deployed with `deployEnv` (its secrets are public: a SendGrid key comes from there), stopped with `extraEnv`. */
    async function runHook(deployEnv: Record<string, string>, extraEnv: Record<string, string> = {}) {
        const { config, secretKeys } = devStack();
        const run = await runProgram(config, secretKeys, { env: deployEnv });
        const deployment = run.deployment("postgres");
        const sidecar = deployment.inputs.spec.template.spec.containers.find((c: any) => c.name === "alert");
        const pod = materialise(run, deployment, "alert", POD);
        try {
            const command = pod.hostCommand(sidecar.lifecycle.preStop.exec.command);
            // The only addition: the API's address, which in the cluster is SendGrid's own.
            const exit = await runCommand(command, { ...pod.env, SENDGRID_API_URL: api.url, ...extraEnv });
            return { exit, log: fs.readFileSync(pod.logFile, "utf8"), env: pod.env };
        } finally {
            pod.cleanup();
        }
    }

    it("mails the pod's facts through SendGrid and logs the result in the container log", async () => {
        const { exit, log } = await runHook({ [SENDGRID_KEY_ENV]: API_KEY });
        assert.strictEqual(exit.code, 0, log);
        assert.strictEqual(api.requests.length, 1);
        const [request] = api.requests;
        assert.strictEqual(request.path, "/v3/mail/send");
        assert.strictEqual(request.authorization, `Bearer ${API_KEY}`);
        assert.strictEqual(request.body.subject, "[workshop-postgres] PostgreSQL pod is going down: workshop/postgres-5f7c9d-x2k4q (pod is being stopped)");
        const text: string = request.body.content[0].value;
        for (const line of ["Pod: postgres-5f7c9d-x2k4q", "Namespace: workshop", "Node: kind-worker", "Pod IP: 10.244.0.12",
            "Service: postgres.workshop (port 5432)", "Database: WORKSHOP", "Stack: workshop-postgres/dev", "Noticed by: preStop hook"]) {
            assert.ok(text.split("\n").includes(line), `mail lacks ${line}`);
        }
        assert.deepStrictEqual(request.body.personalizations[0].to, [{ email: "ops@example.com" }]);
        assert.match(log, /^\{"alert":"sent","attempts":1,"status":202\}$/m);
        assert.ok(!log.includes(API_KEY));
    });

    it("without a SendGrid key, logs the alert as one JSON line to the container log and exits 0", async () => {
        const { exit, log, env } = await runHook({});
        assert.strictEqual(exit.code, 0, log);
        assert.strictEqual(env.SENDGRID_API_KEY, undefined);
        assert.strictEqual(api.requests.length, 0);
        const lines = log.trim().split("\n");
        assert.strictEqual(lines.length, 1);
        assert.strictEqual(JSON.parse(lines[0]).alert, "logged");
        assert.match(JSON.parse(lines[0]).subject, /postgres-5f7c9d-x2k4q/);
    });

    it("refuses bad settings with a clear error and sends nothing", async () => {
        const { exit, log } = await runHook({ [SENDGRID_KEY_ENV]: API_KEY }, { ALERT_FROM: "not-an-address" });
        assert.strictEqual(exit.code, 2);
        assert.match(log, /"alert":"failed","error":"alert mailer settings: ALERT_FROM \\"not-an-address\\" is not one e-mail address"/);
        assert.strictEqual(api.requests.length, 0);
    });
});

describe("the preStop hook in the sidecar container, run as a runtime runs it", function () {
    this.timeout(30_000);
    let api: FakeSendgrid;
    let pod: Materialised;
    // What the hook ran before: the shell never started node when it could not open PID 1's output.
    const OLD_COMMAND = ["/bin/sh", "-c", "node /opt/alerting/pod-down-alert.js >/proc/1/fd/1 2>/proc/1/fd/2"];

    before(async function () {
        const unavailable = containersUnavailable();
        if (unavailable) {
            console.log(`      skipped: ${unavailable}`);
            this.skip();
        }
        const { config, secretKeys } = devStack();
        const run = await runProgram(config, secretKeys, { env: { [SENDGRID_KEY_ENV]: API_KEY } });
        pod = materialise(run, run.deployment("postgres"), "alert", POD);
    });
    after(() => pod?.cleanup());
    beforeEach(async () => {
        api = await startFakeSendgrid([ACCEPTED]);
    });
    afterEach(async () => {
        await api.close();
    });

    /** Starts the sidecar (its shell as PID 1, as uid 1000) and stops it as the kubelet does, preStop first. */
    async function stopSidecar(logOwner: "root" | "container", preStop?: readonly string[]) {
        const declared = preStop === undefined ? pod : { ...pod, container: { ...pod.container, lifecycle: { preStop: { exec: { command: preStop } } } } };
        // The only addition: the API's address, which in the cluster is SendGrid's own.
        const container = await startContainer(declared, NODE_IMAGE, { logOwner, env: { SENDGRID_API_URL: api.url } });
        const stopped = await container.stop();
        return { ...stopped, log: container.log() };
    }

    it("mails when the container's user cannot open the container log (its pipe owned by root), and says so in the hook's output", async () => {
        const { preStop, exit, log } = await stopSidecar("root");
        assert.strictEqual(preStop?.code, 0, preStop?.stderr);
        assert.strictEqual(api.requests.length, 1);
        assert.strictEqual(api.requests[0].authorization, `Bearer ${API_KEY}`);
        // The kubelet shows a hook's own output in the FailedPreStopHook event, should it fail.
        assert.match(preStop.stdout, /^\{"alert":"sent","attempts":1,"status":202\}$/m);
        assert.strictEqual(log, "");
        assert.deepStrictEqual(exit, { code: 0, signal: null }, "the idle shell exits 0 on the stop signal");
    });

    it("the old command sent nothing in that container: the shell failed the redirection and never started node", async () => {
        const { preStop } = await stopSidecar("root", OLD_COMMAND);
        assert.notStrictEqual(preStop?.code, 0);
        assert.match(preStop!.stderr, /cannot create \/proc\/1\/fd\/1: Permission denied/);
        assert.strictEqual(api.requests.length, 0);
    });

    it("where the runtime gives the container's user its pipe (runc), the result goes to the container log", async () => {
        const { preStop, log } = await stopSidecar("container");
        assert.strictEqual(preStop?.code, 0, preStop?.stderr);
        assert.strictEqual(api.requests.length, 1);
        assert.match(log, /^\{"alert":"sent","attempts":1,"status":202\}$/m);
        assert.strictEqual(preStop.stdout, "");
    });
});

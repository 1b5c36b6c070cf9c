import * as assert from "assert";
import * as fs from "fs";
import { devStack } from "./support/devStack";
import { ACCEPTED, FakeSendgrid, startFakeSendgrid } from "./support/fakeSendgrid";
import { materialise, runCommand } from "./support/kubelet";
import { runProgram } from "./support/program";

const API_KEY = "SG.hook-test-key";
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

    async function runHook(extraConfig: Record<string, string>, extraSecrets: string[], extraEnv: Record<string, string> = {}) {
        const { config, secretKeys } = devStack();
        const run = await runProgram({ ...config, ...extraConfig }, [...secretKeys, ...extraSecrets]);
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
        const { exit, log } = await runHook({ sendgridApiKey: API_KEY }, ["sendgridApiKey"]);
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
        const { exit, log, env } = await runHook({}, []);
        assert.strictEqual(exit.code, 0, log);
        assert.strictEqual(env.SENDGRID_API_KEY, undefined);
        assert.strictEqual(api.requests.length, 0);
        const lines = log.trim().split("\n");
        assert.strictEqual(lines.length, 1);
        assert.strictEqual(JSON.parse(lines[0]).alert, "logged");
        assert.match(JSON.parse(lines[0]).subject, /postgres-5f7c9d-x2k4q/);
    });

    it("refuses bad settings with a clear error and sends nothing", async () => {
        const { exit, log } = await runHook({ sendgridApiKey: API_KEY }, ["sendgridApiKey"], { ALERT_FROM: "not-an-address" });
        assert.strictEqual(exit.code, 2);
        assert.match(log, /"alert":"failed","error":"alert mailer settings: ALERT_FROM \\"not-an-address\\" is not one e-mail address"/);
        assert.strictEqual(api.requests.length, 0);
    });
});

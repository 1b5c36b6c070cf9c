import * as assert from "assert";
import { execFileSync, spawn } from "child_process";
import { MAX_BUNDLE_BYTES } from "./alertSpec";
import { SHUTDOWN_SECONDS } from "../database/postgresSpec";
import { SENDGRID_KEY_ENV } from "../config/alerts";
import { devStack } from "../testing/devStack";
import { ProgramRun, RecordedResource, runProgram, secretPaths } from "../testing/program";

const API_KEY = "SG.mockTestKey00000000000.mock-test-secret-never-printed-xxxxxxxxxxxx";

function postgresPod(run: ProgramRun): any {
    return run.deployment("postgres").inputs.spec.template.spec;
}

describe("the alert sidecar under mocks", () => {
    let run: ProgramRun;
    let sidecar: any;

    before(async () => {
        const { config, secretKeys } = devStack();
        run = await runProgram(config, secretKeys, { env: { [SENDGRID_KEY_ENV]: API_KEY } });
        sidecar = postgresPod(run).containers.find((c: any) => c.name === "alert");
    });

    it("runs in the PostgreSQL pod from an official, pinned Node.js LTS image", () => {
        assert.ok(sidecar);
        assert.match(sidecar.image, /^node:(22|24)\.\d+\.\d+-[a-z0-9.]+$/);
    });

    it("has a preStop hook that runs the bundle from its read-only ConfigMap volume", () => {
        const command: string = sidecar.lifecycle.preStop.exec.command.join(" ");
        const mount = sidecar.volumeMounts.find((m: any) => command.includes(`${m.mountPath}/pod-down-alert.js`));
        assert.ok(mount, command);
        assert.strictEqual(mount.readOnly, true);
        const volume = postgresPod(run).volumes.find((v: any) => v.name === mount.name);
        const bundle = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => `${c.name}-0a1b2c3d` === volume.configMap.name);
        assert.ok(bundle?.inputs.data["pod-down-alert.js"].length > 1000);
    });

    it("the bundle fits in its ConfigMap, under the API server's 1 MiB limit", () => {
        const bundle = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.inputs.data?.["pod-down-alert.js"])!;
        const bytes = Buffer.byteLength(JSON.stringify(bundle.inputs));
        assert.ok(bytes < MAX_BUNDLE_BYTES, `${bytes} bytes`);
    });

    it("keeps the SendGrid key only in a Secret, read through secretKeyRef", () => {
        const holders = run.resources.filter((r) => r.type.startsWith("kubernetes:") && JSON.stringify(r.inputs).includes(API_KEY));
        assert.deepStrictEqual(holders.map((r) => r.type), ["kubernetes:core/v1:Secret"]);
        assert.deepStrictEqual(secretPaths(holders[0].rawInputs), ["stringData"]);
        const keyVariable = sidecar.env.find((e: any) => e.name === "SENDGRID_API_KEY");
        assert.deepStrictEqual(keyVariable.valueFrom.secretKeyRef, { name: `${holders[0].name}-0a1b2c3d`, key: "apiKey" });
        for (const container of postgresPod(run).containers.filter((c: any) => c.name !== "alert")) {
            assert.ok(!JSON.stringify(container).includes("SENDGRID"), `${container.name} sees no key`);
        }
    });

    it("takes the pod facts from the Downward API", () => {
        const fields = Object.fromEntries(sidecar.env.filter((e: any) => e.valueFrom?.fieldRef).map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]));
        assert.deepStrictEqual(fields, { POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace", NODE_NAME: "spec.nodeName", POD_IP: "status.podIP" });
    });

    it("gives a grace period covering the send deadline plus PostgreSQL's shutdown", async () => {
        assert.ok(postgresPod(run).terminationGracePeriodSeconds >= 20 + SHUTDOWN_SECONDS);
        const { config, secretKeys } = devStack();
        const longer = await runProgram({ ...config, alertDeadlineSeconds: "90" }, secretKeys);
        assert.ok(postgresPod(longer).terminationGracePeriodSeconds >= 90 + SHUTDOWN_SECONDS);
        const settings: RecordedResource | undefined = longer.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.inputs.data?.ALERT_DEADLINE_SECONDS);
        assert.strictEqual(settings?.inputs.data.ALERT_DEADLINE_SECONDS, "90");
    });

    it("idles in a shell, not in Node, with small requests", () => {
        assert.strictEqual(sidecar.command[0], "/bin/sh");
        assert.ok(!sidecar.command.join(" ").includes("node"), "no Node process while idle");
        assert.deepStrictEqual(sidecar.resources.requests, { cpu: "10m", memory: "16Mi" });
    });

    it("its idle process ends with status 0 as soon as it gets SIGTERM", async () => {
        const child = spawn(sidecar.command[0], sidecar.command.slice(1), { stdio: "ignore" });
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
        // Signal once the loop runs (its sleep exists), so the trap is in place: a readiness check, not a delay.
        const loopRunning = () => {
            try {
                execFileSync("pgrep", ["-P", String(child.pid)], { stdio: "ignore" });
                return true;
            } catch {
                return false;
            }
        };
        for (let tries = 0; !loopRunning(); tries++) {
            assert.ok(tries < 500, "the idle loop never started");
            await new Promise((resolve) => setImmediate(resolve));
        }
        child.kill("SIGTERM");
        assert.strictEqual(await exited, 0);
    });
});

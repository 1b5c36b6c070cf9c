import * as assert from "assert";
import { SENDGRID_KEY_ENV } from "../config/alerts";
import { watcherGraceSeconds } from "../alerting/src/watch/budget";
import { devStack } from "../testing/devStack";
import { ProgramRun, runProgram } from "../testing/program";

const API_KEY = "SG.watcherTestKey00000000.watcher-test-secret-never-printed-xxxxxxxxx";

describe("the pod watcher under mocks", () => {
    let run: ProgramRun;
    before(async () => {
        const { config, secretKeys } = devStack();
        run = await runProgram(config, secretKeys, { env: { [SENDGRID_KEY_ENV]: API_KEY } });
    });

    it("has a namespaced Role that only reads pods, their logs and Jobs: no secrets, no wildcards, no ClusterRole", () => {
        const role = run.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs;
        assert.strictEqual(role.metadata.namespace, "workshop");
        assert.deepStrictEqual(role.rules, [
            { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
            { apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "watch"] },
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

    it("watches the backup Jobs by the labels the CronJob gives them, with the schedule's longest interval", () => {
        const env = run.deployment("pod-watcher").inputs.spec.template.spec.containers[0].env;
        const value = (name: string) => env.find((e: any) => e.name === name)?.value;
        const jobLabels = run.one("kubernetes:batch/v1:CronJob").inputs.spec.jobTemplate.metadata.labels;
        const selector: string = value("BACKUP_SELECTOR");
        assert.match(selector, /app\.kubernetes\.io\/component=backup/);
        for (const pair of selector.split(",")) {
            const [key, label] = pair.split("=");
            assert.strictEqual(jobLabels[key], label, pair);
        }
        assert.strictEqual(value("BACKUP_INTERVAL_SECONDS"), "86400", "15 2 * * *: daily");
    });

    it("has readiness and liveness exec probes that read its verdict files in a memory emptyDir, under a read-only root and no port", () => {
        const spec = run.deployment("pod-watcher").inputs.spec.template.spec;
        const container = spec.containers[0];
        const healthDir = container.env.find((e: any) => e.name === "HEALTH_DIR").value;
        const mount = container.volumeMounts.find((m: any) => m.mountPath === healthDir);
        assert.deepStrictEqual(spec.volumes.find((v: any) => v.name === mount.name).emptyDir, { medium: "Memory", sizeLimit: "1Mi" });
        assert.strictEqual(container.securityContext.readOnlyRootFilesystem, true);
        assert.strictEqual(container.ports, undefined);
        for (const [probe, file] of [[container.readinessProbe, "ready"], [container.livenessProbe, "live"]]) {
            assert.deepStrictEqual(probe.exec.command.slice(0, 2), ["/bin/sh", "-c"]);
            assert.ok(probe.exec.command[2].includes(`${healthDir}/${file}`), probe.exec.command[2]);
        }
        // Liveness must outlast a reconnect and the mail: three failures ten seconds apart.
        assert.ok(container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold >= 30);
    });

    it("has a grace period that lets a send started at SIGTERM finish, and tells the process", () => {
        const spec = run.deployment("pod-watcher").inputs.spec.template.spec;
        assert.strictEqual(spec.terminationGracePeriodSeconds, watcherGraceSeconds(20));
        const env = spec.containers[0].env.find((e: any) => e.name === "TERMINATION_GRACE_SECONDS");
        assert.strictEqual(env.value, String(spec.terminationGracePeriodSeconds));
    });

    it("ships its bundle compressed in a ConfigMap under the 1 MiB limit", () => {
        const bundle = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.inputs.binaryData?.["pod-watcher.js.gz"])!;
        assert.ok(Buffer.byteLength(JSON.stringify(bundle.inputs)) < 1024 * 1024);
    });

    it("neither watches Jobs nor may read them when backups are off", async () => {
        const { config, secretKeys } = devStack();
        const off = await runProgram({ ...config, backupEnabled: "false" }, secretKeys.filter((key) => key !== "backupPassword"));
        assert.deepStrictEqual(off.one("kubernetes:rbac.authorization.k8s.io/v1:Role").inputs.rules.map((rule: any) => rule.resources), [["pods"], ["pods/log"]]);
        const env = off.deployment("pod-watcher").inputs.spec.template.spec.containers[0].env.map((e: any) => e.name);
        assert.ok(!env.some((name: string) => name.startsWith("BACKUP_")), env.join(" "));
    });

    it("is not deployed when watcherEnabled is false", async () => {
        const { config, secretKeys } = devStack();
        const off = await runProgram({ ...config, watcherEnabled: "false" }, secretKeys);
        assert.strictEqual(off.ofType("kubernetes:rbac.authorization.k8s.io/v1:Role").length, 0);
        assert.strictEqual(off.ofType("kubernetes:core/v1:ServiceAccount").length, 0);
        assert.strictEqual(off.ofType("kubernetes:apps/v1:Deployment").length, 1);
    });
});

import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { alertBudget } from "../alerts/alertSpec";
import {
    DATA_MOUNT, INITDB_ARGS, lifecycleBudgetProblems, PGDATA, POSTGRES_BUDGET, POSTGRES_UID, SHUTDOWN_SECONDS, STARTUP_SECONDS,
} from "./postgresSpec";
import { devStack } from "../testing/devStack";
import { ProgramRun, runProgram, secretPaths, valueOf } from "../testing/program";

const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
const SERVICE = "kubernetes:core/v1:Service";
const NAMESPACE = "kubernetes:core/v1:Namespace";

function postgresContainer(run: ProgramRun): any {
    return run.deployment("postgres").inputs.spec.template.spec.containers.find((c: any) => c.name === "postgres");
}

describe("the dev stack under mocks", () => {
    let run: ProgramRun;
    const { config, secretKeys } = devStack();

    before(async () => {
        run = await runProgram(config, secretKeys);
    });

    it("reproduces the challenge: user postgres, database WORKSHOP, password Aw3s0m3 as a secret", () => {
        assert.ok(secretKeys.includes("dbPassword"));
        assert.strictEqual(config.dbPassword, "Aw3s0m3");
        const settings = run.ofType(CONFIG_MAP).find((c) => c.inputs.data?.POSTGRES_DB !== undefined);
        assert.deepStrictEqual(settings?.inputs.data, { POSTGRES_USER: "postgres", POSTGRES_DB: "WORKSHOP", PGDATA, POSTGRES_INITDB_ARGS: INITDB_ARGS });
        const credentials = run.ofType(SECRET).filter((s) => s.inputs.stringData?.password === "Aw3s0m3");
        assert.strictEqual(credentials.length, 1);
        assert.deepStrictEqual(secretPaths(credentials[0].rawInputs), ["stringData"]);
    });

    it("runs exactly one replica with the Recreate strategy", () => {
        const spec = run.deployment("postgres").inputs.spec;
        assert.strictEqual(spec.replicas, 1);
        assert.deepStrictEqual(spec.strategy, { type: "Recreate" });
    });

    it("pins the postgres image to a version", () => {
        const image: string = postgresContainer(run).image;
        assert.match(image, /^postgres:\d+(\.\d+)*$/);
    });

    it("mounts the PVC at PGDATA's parent, so PGDATA is a sub-directory of the volume", () => {
        const podSpec = run.deployment("postgres").inputs.spec.template.spec;
        const dataVolume = podSpec.volumes.find((v: any) => v.persistentVolumeClaim);
        assert.strictEqual(dataVolume.persistentVolumeClaim.claimName, run.named(PVC, "postgres-data").inputs.metadata.name);
        const mount = postgresContainer(run).volumeMounts.find((m: any) => m.name === dataVolume.name);
        assert.strictEqual(mount.mountPath, DATA_MOUNT);
        assert.strictEqual(PGDATA.slice(0, PGDATA.lastIndexOf("/")), DATA_MOUNT);
    });

    it("asks for a ReadWriteOnce claim of the configured size", () => {
        const pvc = run.named(PVC, "postgres-data").inputs;
        assert.deepStrictEqual(pvc.spec.accessModes, ["ReadWriteOnce"]);
        assert.strictEqual(pvc.spec.resources.requests.storage, "1Gi");
    });

    it("the password appears in no Kubernetes object but the Secret, and in no ConfigMap", () => {
        for (const resource of run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== SECRET)) {
            assert.ok(!JSON.stringify(resource.inputs).includes(config.dbPassword), `${resource.type} ${resource.name} holds the password`);
        }
        const env = postgresContainer(run).env.find((e: any) => e.name === "POSTGRES_PASSWORD");
        const credentials = run.ofType(SECRET).find((s) => s.inputs.stringData?.password === config.dbPassword);
        assert.deepStrictEqual(env.valueFrom.secretKeyRef, { name: `${credentials?.name}-0a1b2c3d`, key: "password" });
    });

    it("probes startup, readiness and liveness with pg_isready", () => {
        const container = postgresContainer(run);
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
            assert.match(container[probe].exec.command.join(" "), /pg_isready/, probe);
        }
    });

    it("sets requests and limits on every container", () => {
        for (const container of run.deployment("postgres").inputs.spec.template.spec.containers) {
            for (const kind of ["requests", "limits"]) {
                assert.ok(container.resources?.[kind]?.cpu && container.resources[kind].memory, `${container.name} ${kind}`);
            }
        }
    });

    it("passes the restricted Pod Security Standard in every container", () => {
        const podSpec = run.deployment("postgres").inputs.spec.template.spec;
        assert.strictEqual(podSpec.securityContext.runAsNonRoot, true);
        assert.strictEqual(podSpec.securityContext.runAsUser, POSTGRES_UID);
        assert.strictEqual(podSpec.securityContext.fsGroup, POSTGRES_UID);
        assert.strictEqual(podSpec.securityContext.seccompProfile.type, "RuntimeDefault");
        for (const container of podSpec.containers) {
            const security = container.securityContext;
            assert.strictEqual(security.allowPrivilegeEscalation, false, container.name);
            assert.deepStrictEqual(security.capabilities.drop, ["ALL"], container.name);
            assert.strictEqual(security.runAsNonRoot, true, container.name);
            assert.strictEqual(security.seccompProfile.type, "RuntimeDefault", container.name);
            assert.strictEqual(security.privileged ?? false, false, container.name);
        }
        assert.ok(!podSpec.volumes.some((v: any) => v.hostPath), "no hostPath volumes");
        assert.strictEqual(run.one(NAMESPACE).inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
    });

    it("mounts no service account token and gives /dev/shm a memory-backed volume", () => {
        const podSpec = run.deployment("postgres").inputs.spec.template.spec;
        assert.strictEqual(podSpec.automountServiceAccountToken, false);
        const shm = postgresContainer(run).volumeMounts.find((m: any) => m.mountPath === "/dev/shm");
        assert.strictEqual(podSpec.volumes.find((v: any) => v.name === shm.name).emptyDir.medium, "Memory");
    });

    it("starts a fast shutdown in preStop without waiting for the server, which is PID 1", () => {
        const command: string = postgresContainer(run).lifecycle.preStop.exec.command.join(" ");
        assert.match(command, /pg_ctl stop .*-m fast -W/);
        assert.doesNotMatch(command, / -w\b/);
    });

    it("initialises new volumes with password authentication on loopback TCP", () => {
        assert.strictEqual(INITDB_ARGS, "--auth-host=scram-sha-256 --auth-local=trust");
        const settings = run.ofType(CONFIG_MAP).find((c) => c.inputs.data?.POSTGRES_INITDB_ARGS !== undefined);
        assert.ok(postgresContainer(run).envFrom.some((source: any) => source.configMapRef.name === `${settings?.name}-0a1b2c3d`));
    });

    it("the hooks' time budgets fit the startup probe and the grace period, whatever the alert deadline", async () => {
        const podSpec = run.deployment("postgres").inputs.spec.template.spec;
        assert.deepStrictEqual(lifecycleBudgetProblems(podSpec, { postgres: POSTGRES_BUDGET, alert: alertBudget(20) }), []);
        assert.ok(podSpec.terminationGracePeriodSeconds >= SHUTDOWN_SECONDS + 20);
        // The budget is what the script does: it keeps trying until STARTUP_SECONDS have passed.
        assert.ok(postgresContainer(run).lifecycle.postStart.exec.command[2].startsWith(`deadline=$(( $(date +%s) + ${POSTGRES_BUDGET.postStartSeconds} ))`));
        const longest = (await runProgram({ ...config, alertDeadlineSeconds: "120" }, secretKeys)).deployment("postgres").inputs.spec.template.spec;
        assert.deepStrictEqual(lifecycleBudgetProblems(longest, { postgres: POSTGRES_BUDGET, alert: alertBudget(120) }), []);
    });

    it("the budget rule refuses a postStart that gives up before the startup probe, a short grace period and an unbudgeted container", () => {
        const podSpec = run.deployment("postgres").inputs.spec.template.spec;
        const budgets = { postgres: POSTGRES_BUDGET, alert: alertBudget(20) };
        // The old hook gave up after 120 attempts a second apart: about 128 s.
        assert.deepStrictEqual(lifecycleBudgetProblems(podSpec, { ...budgets, postgres: { ...POSTGRES_BUDGET, postStartSeconds: 128 } }),
            [`postgres: postStart gives up after 128 s, before the startup probe's ${STARTUP_SECONDS} s`]);
        assert.deepStrictEqual(lifecycleBudgetProblems({ ...podSpec, terminationGracePeriodSeconds: 30 }, budgets),
            ["postgres: stopping takes up to 30 s, more than the 30 s grace period less 5 s"]);
        assert.deepStrictEqual(lifecycleBudgetProblems(podSpec, { postgres: POSTGRES_BUDGET }), ["alert: no time budget"]);
    });

    it("selects the pod's labels in the Service and exposes the named port 5432", () => {
        const service = run.one(SERVICE).inputs;
        const deployment = run.deployment("postgres").inputs;
        assert.strictEqual(service.spec.type, "ClusterIP", "published nowhere: the deploying machine goes through the tunnel");
        assert.strictEqual(service.spec.loadBalancerSourceRanges, undefined);
        for (const [key, value] of Object.entries(service.spec.selector)) {
            assert.strictEqual(deployment.spec.template.metadata.labels[key], value);
        }
        assert.deepStrictEqual(deployment.spec.selector.matchLabels, service.spec.selector);
        const port = service.spec.ports[0];
        assert.strictEqual(port.port, 5432);
        assert.strictEqual(port.targetPort, "postgresql");
        assert.ok(postgresContainer(run).ports.some((p: any) => p.name === "postgresql" && p.containerPort === 5432));
    });

    it("lets only the own namespace and the configured CIDRs reach port 5432", async () => {
        const policy = run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;
        assert.deepStrictEqual(policy.spec.podSelector.matchLabels, run.one(SERVICE).inputs.spec.selector);
        assert.deepStrictEqual(policy.spec.policyTypes, ["Ingress"]);
        assert.strictEqual(policy.spec.ingress.length, 1);
        assert.deepStrictEqual(policy.spec.ingress[0].ports, [{ port: 5432, protocol: "TCP" }]);
        assert.deepStrictEqual(policy.spec.ingress[0].from, [{ podSelector: {} }]);
        const opened = await runProgram({ ...config, allowedCidrs: "10.1.0.0/16" }, secretKeys);
        assert.deepStrictEqual(opened.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs.spec.ingress[0].from,
            [{ podSelector: {} }, { ipBlock: { cidr: "10.1.0.0/16" } }]);
    });

    it("a LoadBalancer admits only allowedCidrs, and keeps the client's address so that the NetworkPolicy sees it", async () => {
        const published = await runProgram({ ...config, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24,2001:db8::/32" }, secretKeys);
        const spec = published.one(SERVICE).inputs.spec;
        assert.deepStrictEqual(spec.loadBalancerSourceRanges, ["203.0.113.0/24", "2001:db8::/32"]);
        assert.strictEqual(spec.externalTrafficPolicy, "Local");
    });

    it("exports where to connect, with the connection string as a secret and the password nowhere else", async () => {
        const values: Record<string, unknown> = {};
        for (const [key, output] of Object.entries(run.outputs)) {
            values[key] = await valueOf(output);
            const carriesPassword = JSON.stringify(values[key] ?? null).includes(config.dbPassword);
            assert.strictEqual(carriesPassword && !(await pulumi.isSecret(output)), false, `output ${key} reveals the password`);
        }
        assert.strictEqual(values.namespace, "workshop");
        assert.strictEqual(values.serviceName, "postgres");
        assert.strictEqual(values.host, "postgres.workshop.svc.cluster.local");
        assert.strictEqual(values.port, 5432);
        assert.strictEqual(values.database, "WORKSHOP");
        assert.strictEqual(values.user, "postgres");
        assert.strictEqual(values.connectionString, "postgresql://postgres:Aw3s0m3@postgres.workshop.svc.cluster.local:5432/WORKSHOP");
        assert.strictEqual(await pulumi.isSecret(run.outputs.connectionString), true);
        assert.strictEqual(values.externalHost, "127.0.0.1", "the tunnel's end");
        assert.strictEqual(values.externalPort, 15432);
    });
});

describe("data safety", () => {
    it("changing the password, image, resources or service type leaves the PVC untouched", async () => {
        const { config, secretKeys } = devStack();
        const before = (await runProgram(config, secretKeys)).named(PVC, "postgres-data");
        const changed = {
            ...config,
            dbPassword: "a different password",
            image: "postgres:18.2",
            cpuLimit: "2",
            memoryLimit: "1Gi",
            serviceType: "NodePort",
            dbHost: "127.0.0.1",
        };
        const after = (await runProgram(changed, secretKeys)).named(PVC, "postgres-data");
        assert.strictEqual(after.name, before.name);
        assert.deepStrictEqual(after.inputs, before.inputs);
    });

    it("pulumi destroy keeps the PVC and its namespace unless allowDataDeletion is true", async () => {
        const { config, secretKeys } = devStack();
        const kept = await runProgram(config, secretKeys);
        assert.strictEqual(kept.named(PVC, "postgres-data").opts.retainOnDelete, true);
        assert.strictEqual(kept.one(NAMESPACE).opts.retainOnDelete, true);
        const deletable = await runProgram({ ...config, allowDataDeletion: "true" }, secretKeys);
        assert.strictEqual(deletable.named(PVC, "postgres-data").opts.retainOnDelete, false);
        assert.strictEqual(deletable.one(NAMESPACE).opts.retainOnDelete, false);
    });

    it("uses an existing namespace without creating or owning it", async () => {
        const { config, secretKeys } = devStack();
        const run = await runProgram({ ...config, createNamespace: "false", namespace: "shared" }, secretKeys);
        assert.strictEqual(run.ofType(NAMESPACE).length, 0);
        assert.strictEqual(run.named(PVC, "postgres-data").inputs.metadata.namespace, "shared");
        assert.strictEqual(await valueOf(run.outputs.namespace), "shared");
    });
});

import * as assert from "assert";
import * as fs from "fs";
import type { Backup } from "./backup";
import { BACKUP_SCRIPT_PATH } from "./backup";
import { backupSelector, restoreConfirmation, restorePod, RestoreTarget } from "./backupSpec";
import { POSTGRES_UID } from "../database/postgresSpec";
import { devStack } from "../testing/devStack";
import { ProgramRun, RecordedResource, runProgram, secretPaths, valueOf } from "../testing/program";

const CRON_JOB = "kubernetes:batch/v1:CronJob";
const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
const ROLE = "postgresql:index/role:Role";

function jobPod(run: ProgramRun): any {
    return run.one(CRON_JOB).inputs.spec.jobTemplate.spec.template.spec;
}

/** What a Kubernetes object is called once created: its own name, or the generated one of the mocks. */
function nameOf(resource: RecordedResource): string {
    return resource.inputs.metadata?.name ?? `${resource.name}-0a1b2c3d`;
}

/** Whether a NetworkPolicy peer admits a pod with these labels from the policy's own namespace. */
function admitsOwnNamespacePod(peer: any, labels: Record<string, string>): boolean {
    return peer.podSelector !== undefined && peer.namespaceSelector === undefined && peer.ipBlock === undefined &&
        Object.entries(peer.podSelector.matchLabels ?? {}).every(([key, value]) => labels[key] === value) &&
        (peer.podSelector.matchExpressions ?? []).length === 0;
}

describe("the backup CronJob under mocks", () => {
    let run: ProgramRun;
    const { config, secretKeys } = devStack();

    before(async () => {
        run = await runProgram(config, secretKeys);
    });

    it("runs the backup script on the server's own pinned image, daily at 02:15 UTC by default", () => {
        const cronJob = run.one(CRON_JOB).inputs;
        assert.strictEqual(cronJob.metadata.name, "postgres-backup");
        assert.strictEqual(cronJob.spec.schedule, "15 2 * * *");
        assert.strictEqual(cronJob.spec.timeZone, "Etc/UTC");
        const [container] = jobPod(run).containers;
        const postgres = run.deployment("postgres").inputs.spec.template.spec.containers.find((c: any) => c.name === "postgres");
        assert.strictEqual(container.image, postgres.image);
        assert.deepStrictEqual(container.command, ["sh", "/opt/backup/backup.sh", "run"]);
        const script = run.ofType(CONFIG_MAP).find((c) => c.inputs.data?.["backup.sh"] !== undefined);
        assert.strictEqual(script?.inputs.data["backup.sh"], fs.readFileSync(BACKUP_SCRIPT_PATH, "utf8"));
        const volume = jobPod(run).volumes.find((v: any) => v.configMap?.name === nameOf(script!));
        assert.ok(container.volumeMounts.some((m: any) => m.name === volume.name && m.mountPath === "/opt/backup" && m.readOnly));
    });

    it("never runs twice at once, and bounds each run's time, retries and start delay", () => {
        const spec = run.one(CRON_JOB).inputs.spec;
        assert.strictEqual(spec.concurrencyPolicy, "Forbid");
        assert.ok(spec.startingDeadlineSeconds > 0 && spec.startingDeadlineSeconds <= 600);
        assert.ok(spec.jobTemplate.spec.activeDeadlineSeconds > 0 && spec.jobTemplate.spec.activeDeadlineSeconds <= 3600);
        assert.ok(spec.jobTemplate.spec.backoffLimit >= 0 && spec.jobTemplate.spec.backoffLimit <= 2);
        assert.strictEqual(jobPod(run).restartPolicy, "Never");
        assert.ok(spec.failedJobsHistoryLimit >= 1, "failed Jobs stay visible to a watcher");
    });

    it("labels the CronJob, its Jobs and their pods alike, so a watcher can select backup Jobs", () => {
        const cronJob = run.one(CRON_JOB).inputs;
        const labels = cronJob.metadata.labels;
        assert.deepStrictEqual(cronJob.spec.jobTemplate.metadata.labels, labels);
        assert.deepStrictEqual(cronJob.spec.jobTemplate.spec.template.metadata.labels, labels);
        const selector = Object.fromEntries(backupSelector("postgres-backup").split(",").map((pair) => pair.split("=")));
        assert.deepStrictEqual(selector, {
            "app.kubernetes.io/name": "postgresql-backup", "app.kubernetes.io/instance": "postgres-backup", "app.kubernetes.io/component": "backup",
        });
        for (const [key, value] of Object.entries(selector)) {
            assert.strictEqual(labels[key], value);
        }
        // The PostgreSQL pods' selector must not match backup pods, nor the other way round.
        const databaseSelector = run.deployment("postgres").inputs.spec.selector.matchLabels;
        assert.ok(Object.entries(databaseSelector).some(([key, value]) => labels[key] !== value));
    });

    it("gives a watcher the CronJob's name and the schedule's longest interval", async () => {
        const component = run.resources.find((r) => r.type === "workshop:database:Backup")?.resource as Backup;
        assert.strictEqual(await valueOf(component.cronJobName), "postgres-backup");
        assert.strictEqual(component.intervalSeconds, 86_400);
        assert.strictEqual(component.jobSelector, backupSelector("postgres-backup"));
        assert.strictEqual(await valueOf(run.outputs.backupCronJob), "postgres-backup");
    });

    it("passes the restricted Pod Security Standard, mounts no API token and sets requests and limits", () => {
        const pod = jobPod(run);
        assert.strictEqual(pod.automountServiceAccountToken, false);
        assert.strictEqual(pod.securityContext.runAsNonRoot, true);
        assert.strictEqual(pod.securityContext.fsGroup, POSTGRES_UID);
        assert.strictEqual(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        const [container] = pod.containers;
        assert.deepStrictEqual(container.securityContext, {
            runAsNonRoot: true, runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
        });
        for (const kind of ["requests", "limits"]) {
            assert.ok(container.resources[kind].cpu && container.resources[kind].memory, kind);
        }
        assert.ok(!pod.volumes.some((v: any) => v.hostPath), "no hostPath volumes");
        // Every writable path is a volume: the backups, the scratch space of the restore check, /tmp.
        const writable = container.volumeMounts.filter((m: any) => !m.readOnly).map((m: any) => m.mountPath).sort();
        assert.deepStrictEqual(writable, ["/backups", "/scratch", "/tmp"]);
        const scratch = pod.volumes.find((v: any) => v.name === "scratch");
        assert.strictEqual(scratch.emptyDir.sizeLimit, "1Gi", "the throwaway server gets as much room as the database's volume");
    });

    it("writes to a claim of its own, never to the data PVC, and destroy keeps it", () => {
        const data = run.named(PVC, "postgres-data");
        const backups = run.named(PVC, "postgres-backup-storage");
        const claims = jobPod(run).volumes.filter((v: any) => v.persistentVolumeClaim).map((v: any) => v.persistentVolumeClaim.claimName);
        assert.deepStrictEqual(claims, [nameOf(backups)]);
        assert.notStrictEqual(nameOf(backups), nameOf(data));
        assert.deepStrictEqual(backups.inputs.spec.accessModes, ["ReadWriteOnce"]);
        assert.strictEqual(backups.inputs.spec.resources.requests.storage, "2Gi");
        assert.strictEqual(backups.opts.retainOnDelete, true);
    });

    it("connects through the Service as the backup role, whose password is only in its Secret", () => {
        const settings = run.ofType(CONFIG_MAP).find((c) => c.inputs.data?.BACKUP_DIR !== undefined)!.inputs.data;
        assert.strictEqual(settings.PGHOST, "postgres.workshop.svc.cluster.local");
        assert.strictEqual(settings.PGPORT, "5432");
        assert.strictEqual(settings.PGDATABASE, "WORKSHOP");
        assert.strictEqual(settings.PGUSER, "workshop_backup");
        assert.strictEqual(settings.BACKUP_KEEP, "7");
        const secret = run.ofType(SECRET).find((s) => s.inputs.stringData?.password === config.backupPassword)!;
        assert.deepStrictEqual(secretPaths(secret.rawInputs), ["stringData"]);
        const env = jobPod(run).containers[0].env.find((e: any) => e.name === "PGPASSWORD");
        assert.deepStrictEqual(env.valueFrom.secretKeyRef, { name: nameOf(secret), key: "password" });
        for (const resource of run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== SECRET)) {
            assert.ok(!JSON.stringify(resource.inputs).includes(config.backupPassword), `${resource.type} ${resource.name} holds the backup password`);
        }
    });

    it("creates the backup role through the superuser's provider: reads all data, writes nothing, before the first run", () => {
        const role = run.named(ROLE, "postgres-backup-role");
        assert.strictEqual(role.inputs.name, "workshop_backup");
        assert.strictEqual(role.inputs.login, true);
        assert.deepStrictEqual(role.inputs.roles, ["pg_read_all_data"]);
        assert.strictEqual(role.inputs.superuser ?? false, false);
        assert.strictEqual(role.inputs.createDatabase ?? false, false);
        assert.strictEqual(role.inputs.createRole ?? false, false);
        assert.strictEqual(role.inputs.password, config.backupPassword);
        assert.deepStrictEqual(secretPaths(role.rawInputs), ["password"]);
        assert.strictEqual(role.opts.provider, run.one("pulumi:providers:postgresql").resource);
        assert.ok((run.one(CRON_JOB).opts.dependsOn as unknown[]).includes(role.resource));
    });

    it("is let in by the database's NetworkPolicy", () => {
        const policy = run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;
        const cronJob = run.one(CRON_JOB).inputs;
        assert.strictEqual(cronJob.metadata.namespace, policy.metadata.namespace);
        const labels = cronJob.spec.jobTemplate.spec.template.metadata.labels;
        const ingress = policy.spec.ingress.find((rule: any) => rule.ports.some((p: any) => p.port === 5432));
        assert.ok(ingress.from.some((peer: any) => admitsOwnNamespacePod(peer, labels)));
    });

    it("exports what a restore needs, and the restore pod mounts the backups read-only and runs as the superuser", async () => {
        const target = await valueOf(run.outputs.backupRestore) as RestoreTarget;
        const credentials = run.ofType(SECRET).find((s) => s.inputs.stringData?.password === config.dbPassword)!;
        assert.deepStrictEqual(target, {
            namespace: "workshop",
            image: "postgres:18.1",
            database: "WORKSHOP",
            backupClaim: "postgres-backup-storage",
            scriptConfigMap: nameOf(run.named(CONFIG_MAP, "postgres-backup-script")),
            settingsConfigMap: nameOf(run.named(CONFIG_MAP, "postgres-backup-settings")),
            superuser: "postgres",
            superuserSecret: nameOf(credentials),
            caConfigMap: "postgres-ca",
        });
        const pod: any = restorePod(target, ["restore", "WORKSHOP-20261124T021500Z", restoreConfirmation("WORKSHOP")]);
        const [container] = pod.spec.containers;
        assert.deepStrictEqual(container.command, ["sh", "/opt/backup/backup.sh", "restore", "WORKSHOP-20261124T021500Z", "--yes-overwrite-WORKSHOP"]);
        assert.ok(container.volumeMounts.some((m: any) => m.mountPath === "/backups" && m.readOnly === true));
        assert.ok(pod.spec.volumes.some((v: any) => v.persistentVolumeClaim?.readOnly === true));
        assert.strictEqual(pod.spec.automountServiceAccountToken, false);
        assert.notStrictEqual(pod.metadata.labels["app.kubernetes.io/component"], "backup", "a watcher of backup Jobs does not see restores");
    });
});

describe("backups in other configurations", () => {
    it("are left out with backupEnabled false, and then need no backup password", async () => {
        const { config, secretKeys } = devStack();
        delete config.backupPassword;
        const run = await runProgram({ ...config, backupEnabled: "false" }, secretKeys.filter((key) => key !== "backupPassword"));
        assert.strictEqual(run.ofType(CRON_JOB).length, 0);
        assert.deepStrictEqual(run.ofType(PVC).map((p) => p.name), ["postgres-data"]);
        assert.deepStrictEqual(run.ofType(ROLE).map((r) => r.name), ["workshop-app-role"]);
    });

    it("take schedule, retention, size and class from config; destroy deletes the claim only with allowDataDeletion", async () => {
        const { config, secretKeys } = devStack();
        const run = await runProgram({
            ...config, backupSchedule: "0 */6 * * *", backupKeep: "3", backupStorageSize: "5Gi", backupStorageClass: "standard", allowDataDeletion: "true",
        }, secretKeys);
        assert.strictEqual(run.one(CRON_JOB).inputs.spec.schedule, "0 */6 * * *");
        assert.strictEqual(run.ofType(CONFIG_MAP).find((c) => c.inputs.data?.BACKUP_KEEP)!.inputs.data.BACKUP_KEEP, "3");
        const claim = run.named(PVC, "postgres-backup-storage");
        assert.strictEqual(claim.inputs.spec.resources.requests.storage, "5Gi");
        assert.strictEqual(claim.inputs.spec.storageClassName, "standard");
        assert.strictEqual(claim.opts.retainOnDelete, false);
        const component = run.resources.find((r) => r.type === "workshop:database:Backup")?.resource as Backup;
        assert.strictEqual(component.intervalSeconds, 6 * 3600);
    });

    it("changing the schedule, retention, role or its password leaves the backup claim untouched", async () => {
        const { config, secretKeys } = devStack();
        const before = (await runProgram(config, secretKeys)).named(PVC, "postgres-backup-storage");
        const after = (await runProgram({
            ...config, backupSchedule: "@hourly", backupKeep: "2", backupUser: "other_backup", backupPassword: "changed", image: "postgres:18.2",
        }, secretKeys)).named(PVC, "postgres-backup-storage");
        assert.deepStrictEqual(after.inputs, before.inputs);
    });
});

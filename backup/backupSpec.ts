/**
 * Pure builders for the backup CronJob and the restore pod: labels, settings, pod specs. The logic
 * they run is backup/backup.sh; the component (backup/backup.ts) only wires these together.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import { POSTGRES_PORT, POSTGRES_UID } from "../database/postgresSpec";
import { CLIENT_CA } from "../database/tlsSpec";
import { restrictedContainerSecurity, restrictedPodSecurity } from "../kube/pod";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type CronJobSpec = k8s.types.input.batch.v1.CronJobSpec;

export const BACKUP_SCRIPT = "backup.sh";
export const SCRIPT_MOUNT = "/opt/backup";
export const BACKUP_MOUNT = "/backups";
/** The throwaway server of the restore check lives here, never on a persistent volume. */
export const SCRATCH_MOUNT = "/scratch";
export const BACKUP_CONTAINER = "backup";
/** The stack's CA, from the database's client ConfigMap, which libpq verifies the server with. */
export const CA_MOUNT = "/opt/postgresql/ca";

/** A run (dump, restore check, publish) that takes longer is stopped and counts as failed. */
export const BACKUP_DEADLINE_SECONDS = 3600;
/** One retry in a new pod (a node lost mid-run, say); a second failure is the Job's failure. */
export const BACKUP_RETRIES = 1;
/** A run the controller could not start within this time after its slot is skipped, not run late. */
export const BACKUP_STARTING_DEADLINE_SECONDS = 300;

const RESOURCES = {
    requests: { cpu: "100m", memory: "128Mi" },
    // pg_dump, pg_restore and the throwaway server with 32 MB of shared buffers.
    limits: { cpu: "1", memory: "512Mi" },
};

/**
 * Labels of the CronJob, its Jobs and their pods. Stable across updates: a watcher selects backup
 * Jobs by `backupSelector(instance)`.
 */
export function backupLabels(instance: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": "postgresql-backup",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": "backup",
        "app.kubernetes.io/part-of": "workshop-postgres",
        "app.kubernetes.io/managed-by": "pulumi",
    };
}

/** Label selector of the backup Jobs and pods, such as app.kubernetes.io/component=backup,… */
export function backupSelector(instance: string): string {
    const { "app.kubernetes.io/part-of": _partOf, "app.kubernetes.io/managed-by": _managedBy, ...selecting } = backupLabels(instance);
    return Object.entries(selecting).map(([key, value]) => `${key}=${value}`).join(",");
}

export interface BackupSettingsArgs {
    /** In-cluster DNS name of the PostgreSQL Service. */
    readonly host: string;
    readonly database: string;
    readonly user: string;
    readonly keep: number;
    /** Whether the server has TLS; then libpq checks its certificate against the CA and `host`. */
    readonly tls: boolean;
}

/** Non-secret settings of the script, as libpq and backup.sh read them; the password is in a Secret. */
export function backupSettingsData(args: BackupSettingsArgs): Record<string, string> {
    return {
        PGHOST: args.host,
        PGPORT: String(POSTGRES_PORT),
        PGDATABASE: args.database,
        PGUSER: args.user,
        PGCONNECT_TIMEOUT: "10",
        PGAPPNAME: "workshop-backup",
        BACKUP_DIR: BACKUP_MOUNT,
        SCRATCH_DIR: SCRATCH_MOUNT,
        BACKUP_KEEP: String(args.keep),
        // libpq applies these to TCP only: the restore check's throwaway server, on a socket, is unaffected.
        ...(args.tls ? { PGSSLMODE: "verify-full", PGSSLROOTCERT: `${CA_MOUNT}/${CLIENT_CA}` } : {}),
    };
}

interface ScriptPodArgs {
    readonly image: string;
    readonly command: string[];
    readonly settingsConfigMap: Input<string>;
    readonly scriptConfigMap: Input<string>;
    readonly backupClaim: Input<string>;
    /** The database password: `name` and `key` of its Secret. */
    readonly passwordSecret: Input<string>;
    readonly passwordKey: string;
    readonly extraEnv: EnvVar[];
    readonly backupsReadOnly: boolean;
    /** Size of the scratch volume; none: no scratch volume. */
    readonly scratchSize?: string;
    /** Keep stdin open for `kubectl run -i`, which streams the log and returns the exit code. */
    readonly attached: boolean;
    /** The database's client ConfigMap (the CA); none: a server without TLS. */
    readonly caConfigMap?: Input<string>;
}

/** A pod that runs backup.sh in the postgres image, under the same restricted rules as the database. */
function scriptPodSpec(args: ScriptPodArgs): PodSpec {
    const scratch = args.scratchSize === undefined ? [] : [{ name: "scratch", emptyDir: { sizeLimit: args.scratchSize } }];
    const ca = args.caConfigMap === undefined ? [] : [{ name: "ca", configMap: { name: args.caConfigMap, items: [{ key: CLIENT_CA, path: CLIENT_CA }], defaultMode: 0o444 } }];
    return {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 30,
        securityContext: restrictedPodSecurity(POSTGRES_UID),
        containers: [{
            name: BACKUP_CONTAINER,
            image: args.image,
            imagePullPolicy: "IfNotPresent",
            command: args.command,
            stdin: args.attached,
            stdinOnce: args.attached,
            envFrom: [{ configMapRef: { name: args.settingsConfigMap } }],
            env: [
                { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: args.passwordSecret, key: args.passwordKey } } },
                ...args.extraEnv,
            ],
            resources: { requests: { ...RESOURCES.requests }, limits: { ...RESOURCES.limits } },
            securityContext: restrictedContainerSecurity(POSTGRES_UID),
            volumeMounts: [
                { name: "backups", mountPath: BACKUP_MOUNT, readOnly: args.backupsReadOnly },
                { name: "script", mountPath: SCRIPT_MOUNT, readOnly: true },
                { name: "tmp", mountPath: "/tmp" },
                ...scratch.map(({ name }) => ({ name, mountPath: SCRATCH_MOUNT })),
                ...ca.map(({ name }) => ({ name, mountPath: CA_MOUNT, readOnly: true })),
            ],
        }],
        volumes: [
            { name: "backups", persistentVolumeClaim: { claimName: args.backupClaim, readOnly: args.backupsReadOnly } },
            { name: "script", configMap: { name: args.scriptConfigMap, defaultMode: 0o444 } },
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
            ...scratch,
            ...ca,
        ],
    };
}

export interface BackupCronJobArgs {
    readonly schedule: string;
    readonly labels: Record<string, string>;
    readonly image: string;
    readonly settingsConfigMap: Input<string>;
    readonly scriptConfigMap: Input<string>;
    readonly credentialsSecret: Input<string>;
    readonly backupClaim: Input<string>;
    /** Room for the throwaway server of the restore check: as much as the database's own volume. */
    readonly scratchSize: string;
    readonly caConfigMap?: Input<string>;
}

export function backupCronJobSpec(args: BackupCronJobArgs): CronJobSpec {
    return {
        schedule: args.schedule,
        timeZone: "Etc/UTC",
        // A run still going when the next is due makes the next wait, never share the volume.
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: BACKUP_STARTING_DEADLINE_SECONDS,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
            metadata: { labels: args.labels },
            spec: {
                activeDeadlineSeconds: BACKUP_DEADLINE_SECONDS,
                backoffLimit: BACKUP_RETRIES,
                template: {
                    metadata: { labels: args.labels },
                    spec: scriptPodSpec({
                        image: args.image,
                        command: ["sh", `${SCRIPT_MOUNT}/${BACKUP_SCRIPT}`, "run"],
                        settingsConfigMap: args.settingsConfigMap,
                        scriptConfigMap: args.scriptConfigMap,
                        backupClaim: args.backupClaim,
                        passwordSecret: args.credentialsSecret,
                        passwordKey: "password",
                        extraEnv: [],
                        backupsReadOnly: false,
                        scratchSize: args.scratchSize,
                        attached: false,
                        caConfigMap: args.caConfigMap,
                    }),
                },
            },
        },
    };
}

/** What `npm run restore` needs to build its pod; exported by the stack as `backupRestore`. */
export interface RestoreTarget {
    readonly namespace: string;
    readonly image: string;
    readonly database: string;
    readonly backupClaim: string;
    readonly scriptConfigMap: string;
    readonly settingsConfigMap: string;
    /** The superuser restores, since it owns the objects the restore drops and creates again. */
    readonly superuser: string;
    readonly superuserSecret: string;
    /** The database's client ConfigMap, with the CA the restore verifies the server with; none without TLS. */
    readonly caConfigMap?: string;
}

/** The confirmation a restore into `database` demands, spelled with the database's exact name. */
export function restoreConfirmation(database: string): string {
    return `--yes-overwrite-${database}`;
}

/**
 * A pod that runs backup.sh with `scriptArgs` (`restore NAME CONFIRMATION`, or `list`) as the
 * superuser, with the backup volume mounted read-only. The script checks a restore's confirmation
 * again, so the pod is safe on its own.
 */
export function restorePod(target: RestoreTarget, scriptArgs: readonly string[]) {
    // A DNS label: the backup's timestamp, or the subcommand.
    const name = `postgres-restore-${scriptArgs[scriptArgs.length === 1 ? 0 : 1].replace(/^.*-/, "").toLowerCase()}`;
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            name,
            namespace: target.namespace,
            labels: { ...backupLabels("postgres-restore"), "app.kubernetes.io/component": "restore" },
        },
        spec: {
            ...scriptPodSpec({
                image: target.image,
                command: ["sh", `${SCRIPT_MOUNT}/${BACKUP_SCRIPT}`, ...scriptArgs],
                settingsConfigMap: target.settingsConfigMap,
                scriptConfigMap: target.scriptConfigMap,
                backupClaim: target.backupClaim,
                passwordSecret: target.superuserSecret,
                passwordKey: "password",
                extraEnv: [{ name: "PGUSER", value: target.superuser }],
                backupsReadOnly: true,
                attached: true,
                caConfigMap: target.caConfigMap,
            }),
            activeDeadlineSeconds: BACKUP_DEADLINE_SECONDS,
        },
    };
}

import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import {
    BACKUP_SCRIPT, backupCronJobSpec, backupLabels, backupSelector, backupSettingsData, RestoreTarget,
} from "./backupSpec";
import { readWriteOnceClaim } from "../kube/pod";
import { scheduleIntervalSeconds } from "../config/schedule";
import { DEFAULTS } from "../config/settings";
import type { Retention } from "../database/postgresInstance";

/** backup/backup.sh, shipped as it is in the repository. */
export const BACKUP_SCRIPT_PATH = path.resolve(__dirname, "../backup", BACKUP_SCRIPT);

export interface BackupArgs {
    readonly namespace: pulumi.Input<string>;
    /** In-cluster DNS name of the PostgreSQL Service the dumps go through. */
    readonly host: pulumi.Input<string>;
    /** Database to back up; the exact name, upper case included. */
    readonly database: string;
    /** The same pinned postgres image as the server, so pg_dump's major version is the server's. */
    readonly image: string;
    /** A postgresql provider connected as a superuser, which creates the backup role. */
    readonly provider: postgresql.Provider;
    /** Backup role (default "workshop_backup"): member of pg_read_all_data, writes nothing. */
    readonly user?: string;
    /** Its password, kept as a Pulumi secret and stored only in a Kubernetes Secret. */
    readonly password: pulumi.Input<string>;
    /** Cron schedule in UTC (default "15 2 * * *"). */
    readonly schedule?: string;
    /** Verified backups kept (default 7). */
    readonly keep?: number;
    /** Size of the backup PVC (default "2Gi"). */
    readonly storageSize?: string;
    /** Its StorageClass (default: the cluster's default class). */
    readonly storageClass?: string;
    /** Room for the restore check's throwaway server (default the data PVC's default size, "1Gi"). */
    readonly scratchSize?: string;
    /** Let `pulumi destroy` delete the backup PVC (default false: it is retained, like the data PVC). */
    readonly allowDataDeletion?: boolean;
    /** How the retained claim is marked and taken over again after a destroy (the instance's). */
    readonly retention: Retention;
    /** Superuser and the Secret holding its password (key `password`): what a restore runs as. */
    readonly superuser: string;
    readonly superuserSecret: pulumi.Input<string>;
    /** The database's client ConfigMap, with the CA the dumps and restores verify the server with (default: a server without TLS). */
    readonly caConfigMap?: pulumi.Input<string>;
}

/**
 * Scheduled dumps of one database (custom format) and of its roles, each restored into a throwaway
 * server and counted before it is published, onto a volume of their own; newest N kept.
 */
export class Backup extends pulumi.ComponentResource {
    public readonly cronJobName: pulumi.Output<string>;
    public readonly claimName: pulumi.Output<string>;
    /** Labels of the CronJob, its Jobs and their pods; stable, for a watcher to select on. */
    public readonly jobLabels: Record<string, string>;
    /** The same as a label selector string. */
    public readonly jobSelector: string;
    /** Longest time between two scheduled runs: a watcher alerts when no success is newer than twice this. */
    public readonly intervalSeconds: number;
    /** What `npm run restore` needs; exported by the stack. */
    public readonly restoreTarget: pulumi.Output<RestoreTarget>;

    constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("workshop:database:Backup", name, {}, opts);

        const user = args.user ?? DEFAULTS.backupUser;
        const schedule = args.schedule ?? DEFAULTS.backupSchedule;
        const keep = args.keep ?? DEFAULTS.backupKeep;
        const storageSize = args.storageSize ?? DEFAULTS.backupStorageSize;
        const scratchSize = args.scratchSize ?? DEFAULTS.storageSize;
        const retainData = !(args.allowDataDeletion ?? false);

        this.jobLabels = backupLabels(name);
        this.jobSelector = backupSelector(name);
        this.intervalSeconds = scheduleIntervalSeconds(schedule);
        const metadata = { namespace: args.namespace, labels: this.jobLabels };

        // Reads everything (pg_read_all_data), rows behind row-level security included, so that a
        // dump is whole; can write nothing, create nothing and log in at most 5 times at once.
        const role = new postgresql.Role(`${name}-role`, {
            name: user,
            login: true,
            password: args.password,
            roles: ["pg_read_all_data"],
            bypassRowLevelSecurity: true,
            connectionLimit: 5,
        }, { parent: this, provider: args.provider });

        const credentials = new k8s.core.v1.Secret(`${name}-credentials`, {
            metadata,
            type: "Opaque",
            stringData: { password: args.password },
        }, { parent: this });

        const settings = new k8s.core.v1.ConfigMap(`${name}-settings`, {
            metadata,
            data: pulumi.output(args.host).apply((host) => backupSettingsData({ host, database: args.database, user, keep, tls: args.caConfigMap !== undefined })),
        }, { parent: this });

        const script = new k8s.core.v1.ConfigMap(`${name}-script`, {
            metadata,
            data: { [BACKUP_SCRIPT]: fs.readFileSync(BACKUP_SCRIPT_PATH, "utf8") },
        }, { parent: this });

        // Never the data PVC: a full or broken backup volume cannot touch the database's.
        const claim = new k8s.core.v1.PersistentVolumeClaim(`${name}-storage`, {
            metadata: {
                ...metadata,
                name: args.retention.claimName(args.namespace, `${name}-storage`),
                annotations: {
                    ...args.retention.annotations,
                    // With WaitForFirstConsumer classes the claim binds only once the first Job's pod exists.
                    "pulumi.com/skipAwait": "true",
                },
            },
            spec: readWriteOnceClaim(storageSize, args.storageClass),
        }, { parent: this, retainOnDelete: retainData, provider: args.retention.provider });

        const cronJob = new k8s.batch.v1.CronJob(name, {
            metadata: { ...metadata, name },
            spec: backupCronJobSpec({
                schedule,
                labels: this.jobLabels,
                image: args.image,
                settingsConfigMap: settings.metadata.name,
                scriptConfigMap: script.metadata.name,
                credentialsSecret: credentials.metadata.name,
                backupClaim: claim.metadata.name,
                scratchSize,
                caConfigMap: args.caConfigMap,
            }),
        // The first run must find its role.
        }, { parent: this, dependsOn: [role] });

        this.cronJobName = cronJob.metadata.name;
        this.claimName = claim.metadata.name;
        this.restoreTarget = pulumi.all([args.namespace, claim.metadata.name, script.metadata.name, settings.metadata.name, args.superuserSecret, args.caConfigMap])
            .apply(([namespace, backupClaim, scriptConfigMap, settingsConfigMap, superuserSecret, caConfigMap]) => ({
                namespace,
                image: args.image,
                database: args.database,
                backupClaim,
                scriptConfigMap,
                settingsConfigMap,
                superuser: args.superuser,
                superuserSecret,
                ...(caConfigMap === undefined ? {} : { caConfigMap }),
            }));

        this.registerOutputs({
            cronJobName: this.cronJobName,
            claimName: this.claimName,
            jobSelector: this.jobSelector,
            intervalSeconds: this.intervalSeconds,
            restoreTarget: this.restoreTarget,
        });
    }
}

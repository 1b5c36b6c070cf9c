/** The shape of the stack's settings, what the parser reads them from, and how it refuses them. */
import type { ServiceType, SslMode } from "./defaults";
import type { DatabaseRoute } from "./route";

export const PROJECT = "workshop-postgres";

export interface ComputeResources {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
}

export interface Settings {
    readonly namespace: string;
    readonly createNamespace: boolean;
    readonly dbUser: string;
    readonly dbName: string;
    readonly image: string;
    readonly storageSize: string;
    /** Undefined: the cluster's default StorageClass. */
    readonly storageClass?: string;
    readonly serviceType: ServiceType;
    /** Fixed NodePort; undefined lets Kubernetes pick one. */
    readonly nodePort?: number;
    readonly resources: ComputeResources;
    /** CIDRs allowed to reach port 5432 (besides pods of `allowedNamespaces`). */
    readonly allowedCidrs: readonly string[];
    /** Namespaces whose pods may reach port 5432; the stack's own namespace is always allowed. */
    readonly allowedNamespaces: readonly string[];
    /** When false (the default) `pulumi destroy` leaves the namespace, the PVC and the tables in place. */
    readonly allowDataDeletion: boolean;
    readonly schema: SchemaSettings;
    readonly alert: AlertSettings;
    readonly watcher: WatcherSettings;
    readonly backup: BackupSettings;
    readonly exposure: ExposureSettings;
    readonly tls: TlsSettings;
}

export interface TlsSettings {
    /** The server presents a certificate of the stack's CA and refuses TCP connections without TLS. */
    readonly enabled: boolean;
    /** TLS mode of the deploying machine's connections (the postgresql provider, the SQL runner). */
    readonly sslMode: SslMode;
}

export interface SchemaSettings {
    /** How the deploying machine reaches PostgreSQL: the tunnel unless dbHost or a LoadBalancer says otherwise. */
    readonly route: DatabaseRoute;
    readonly appUser: string;
    readonly schemaName: string;
}

/** Where the mailer's SendGrid key comes from: the stack's secret config, or the deploying process's environment. */
export type SendgridKeySource = "config" | "environment";

export interface AlertSettings {
    readonly to: readonly string[];
    readonly from: string;
    readonly subjectPrefix: string;
    /** Upper bound of one alert send, retries included. */
    readonly deadlineSeconds: number;
    /** Official Node.js image that runs the mailer. */
    readonly image: string;
    readonly sendgridConfigured: boolean;
    /** Undefined: no key, alerts are only logged. */
    readonly sendgridKeySource?: SendgridKeySource;
}

export interface WatcherSettings {
    readonly enabled: boolean;
    /** How long a pod may be NotReady (or absent) before it counts as down. */
    readonly notReadySeconds: number;
}

export interface BackupSettings {
    readonly enabled: boolean;
    /** Cron schedule of the CronJob, in UTC; one that runs (Backup derives the watcher's interval from it). */
    readonly schedule: string;
    /** How many verified backups to keep. */
    readonly keep: number;
    readonly storageSize: string;
    /** Undefined: the cluster's default StorageClass. */
    readonly storageClass?: string;
    /** Login role the dumps run as: reads all data, writes nothing. */
    readonly user: string;
}

/** Whose cluster the stack may run on. */
export interface ExposureSettings {
    /** Why this stack's credentials count as published (the marker, the dev passphrase, the challenge's password); empty: they are its own. */
    readonly publicCredentials: readonly string[];
    /** Why anyone can read a secret stored in this stack's config (the marker, the dev passphrase); empty: only its owner. */
    readonly readableSecrets: readonly string[];
    /** The user confirmed that only they can reach the cluster, though the program cannot tell. */
    readonly clusterIsPrivate: boolean;
}

/**
 * What the parser reads. Values of secret keys are only checked, never quoted, logged or kept.
 * The optional parts let a test of one value give only what it needs; the program gives them all.
 */
export interface ConfigSource {
    /** The value of a key of the project's namespace; undefined when unset. */
    get(key: string): string | undefined;
    /** Whether a secret key is set. */
    hasSecret(key: string): boolean;
    /** A secret key's value, to check that it is usable; without it only presence is checked. */
    secret?(key: string): string | undefined;
    /** Every key set in the project's namespace, without the prefix; without it unknown keys are not looked for. */
    keys?(): readonly string[];
    /** A variable of the deploying process's environment (SENDGRID_API_KEY, PULUMI_CONFIG_PASSPHRASE). */
    env?(name: string): string | undefined;
}

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

/**
 * The one source of every stack setting's default and limit. The parser reads them from here, the
 * components fall back to DEFAULTS, and config/defaults.test.ts checks that Pulumi.yaml's
 * `template.config` and docs/configuration.md say the same. The alert limits that the pods enforce
 * too come from the contract across the pod boundary.
 */
import { ALERT_DEADLINE_SECONDS, NOT_READY_SECONDS } from "../alerting/src/contract";
import type { QuantityBounds } from "./values";

export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";
/** The tunnel's local port (tunnelPort's default), and any port-forward's: 5432 may be a local PostgreSQL's. */
export const FORWARD_PORT = 15432;

export const SERVICE_TYPES: readonly ServiceType[] = ["ClusterIP", "NodePort", "LoadBalancer"];

/** libpq sslmode values accepted by the postgresql provider. */
export type SslMode = "disable" | "require" | "verify-ca" | "verify-full";
export const SSL_MODES: readonly SslMode[] = ["disable", "require", "verify-ca", "verify-full"];

export const DEFAULTS = {
    namespace: "workshop",
    createNamespace: true,
    dbUser: "postgres",
    image: "postgres:18.1",
    storageSize: "1Gi",
    serviceType: "ClusterIP" as ServiceType,
    resources: {
        requests: { cpu: "250m", memory: "256Mi" },
        limits: { cpu: "1", memory: "512Mi" },
    },
    allowDataDeletion: false,
    tls: true,
    /** With tls true; with tls false the only mode is disable. */
    sslMode: "verify-full" as SslMode,
    appUser: "workshop_app",
    schemaName: "workshop",
    alertSubjectPrefix: "[workshop-postgres]",
    alertDeadlineSeconds: ALERT_DEADLINE_SECONDS.default,
    alertImage: "node:24.11.1-alpine3.22",
    watcherEnabled: true,
    watcherNotReadySeconds: NOT_READY_SECONDS.default,
    backupEnabled: true,
    backupSchedule: "15 2 * * *",
    backupKeep: 7,
    backupStorageSize: "2Gi",
    backupUser: "workshop_backup",
    publicCredentials: false,
    clusterIsPrivate: false,
} as const;

/**
 * The stack's CA and the server certificate it signs (tls/). The CA outlives many servers: rotated by
 * hand (docs/tls.md). The server certificate is short enough that a leaked key expires, and every
 * `up` within `renewDays` of its end issues a new one.
 */
export const CERTIFICATES = {
    caDays: 3650,
    serverDays: 365,
    renewDays: 60,
    /** Bits of the RSA keys: what every PostgreSQL client and OpenSSL security level accepts. */
    rsaBits: 2048,
} as const;

/** Inclusive bounds of a whole-number setting. */
export interface Range {
    readonly min: number;
    readonly max: number;
}

export const LIMITS = {
    nodePort: { min: 30000, max: 32767 } as Range,
    dbPort: { min: 1, max: 65535 } as Range,
    /** Not a privileged port: the tunnel runs as the deploying user. */
    tunnelPort: { min: 1024, max: 65535 } as Range,
    alertDeadlineSeconds: ALERT_DEADLINE_SECONDS as Range,
    watcherNotReadySeconds: NOT_READY_SECONDS as Range,
    backupKeep: { min: 1, max: 100 } as Range,
    cpuRequest: { min: "10m", max: "256", why: "no request starves PostgreSQL on a busy node; no node has more than 256 cores" } as QuantityBounds,
    cpuLimit: { min: "100m", max: "256", why: "under a tenth of a core, startup and the probes' pg_isready time out" } as QuantityBounds,
    memoryRequest: { min: "128Mi", max: "1Ti", why: "PostgreSQL's default shared_buffers alone is 128 MB" } as QuantityBounds,
    memoryLimit: { min: "256Mi", max: "1Ti", why: "PostgreSQL's shared_buffers alone is 128 MB; less is killed at the first busy moment" } as QuantityBounds,
    storageSize: { min: "512Mi", max: "64Ti", why: "a new cluster and its WAL need some hundred MB; no cloud disk is larger than 64Ti" } as QuantityBounds,
    backupStorageSize: { min: "512Mi", max: "64Ti", why: "room for a few compressed dumps; no cloud disk is larger than 64Ti" } as QuantityBounds,
    /** The oldest major whose psql has \getenv, which the postStart hook reads the password with. */
    postgresMajor: 15,
    /** The alert bundles are built for Node.js 22 and tested on 24. */
    nodeMajor: 22,
    alertSubjectPrefixLength: 60,
} as const;

/** What the documentation and Pulumi.yaml say about one key. */
export interface KeySpec {
    /** The default as `pulumi config get` would print it; undefined: required, or unset has a meaning of its own. */
    readonly default?: string;
    readonly secret?: true;
    /** Bounds of a whole number. */
    readonly range?: Range;
    /** Bounds of a Kubernetes quantity. */
    readonly quantity?: QuantityBounds;
}

const text = (value: string | number | boolean): string => String(value);

/** Every key of the project's config namespace; anything else is refused as unknown. */
export const KEYS: Readonly<Record<string, KeySpec>> = {
    // The database and its pod.
    namespace: { default: DEFAULTS.namespace },
    createNamespace: { default: text(DEFAULTS.createNamespace) },
    dbUser: { default: DEFAULTS.dbUser },
    dbPassword: { secret: true },
    dbName: {},
    image: { default: DEFAULTS.image },
    storageSize: { default: DEFAULTS.storageSize, quantity: LIMITS.storageSize },
    storageClass: {},
    serviceType: { default: DEFAULTS.serviceType },
    nodePort: { range: LIMITS.nodePort },
    cpuRequest: { default: DEFAULTS.resources.requests.cpu, quantity: LIMITS.cpuRequest },
    memoryRequest: { default: DEFAULTS.resources.requests.memory, quantity: LIMITS.memoryRequest },
    cpuLimit: { default: DEFAULTS.resources.limits.cpu, quantity: LIMITS.cpuLimit },
    memoryLimit: { default: DEFAULTS.resources.limits.memory, quantity: LIMITS.memoryLimit },
    allowedCidrs: {},
    allowedNamespaces: {},
    allowDataDeletion: { default: text(DEFAULTS.allowDataDeletion) },
    // Reaching the database, and the schema.
    dbHost: {},
    dbPort: { range: LIMITS.dbPort },
    tunnelPort: { default: text(FORWARD_PORT), range: LIMITS.tunnelPort },
    tls: { default: text(DEFAULTS.tls) },
    sslMode: { default: DEFAULTS.sslMode },
    appUser: { default: DEFAULTS.appUser },
    appPassword: { secret: true },
    schemaName: { default: DEFAULTS.schemaName },
    // Alerts.
    alertTo: {},
    alertFrom: {},
    sendgridApiKey: { secret: true },
    alertSubjectPrefix: { default: DEFAULTS.alertSubjectPrefix },
    alertDeadlineSeconds: { default: text(DEFAULTS.alertDeadlineSeconds), range: LIMITS.alertDeadlineSeconds },
    alertImage: { default: DEFAULTS.alertImage },
    // The pod watcher.
    watcherEnabled: { default: text(DEFAULTS.watcherEnabled) },
    watcherNotReadySeconds: { default: text(DEFAULTS.watcherNotReadySeconds), range: LIMITS.watcherNotReadySeconds },
    // Backups.
    backupEnabled: { default: text(DEFAULTS.backupEnabled) },
    backupSchedule: { default: DEFAULTS.backupSchedule },
    backupKeep: { default: text(DEFAULTS.backupKeep), range: LIMITS.backupKeep },
    backupStorageSize: { default: DEFAULTS.backupStorageSize, quantity: LIMITS.backupStorageSize },
    backupStorageClass: {},
    backupUser: { default: DEFAULTS.backupUser },
    backupPassword: { secret: true },
    // Where the stack may run.
    publicCredentials: { default: text(DEFAULTS.publicCredentials) },
    clusterIsPrivate: { default: text(DEFAULTS.clusterIsPrivate) },
};

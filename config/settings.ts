/**
 * Stack configuration, parsed and validated by one pure function before any resource exists.
 *
 * Every error names the full config key and the form it expects. Values of secret keys are
 * checked for presence only and never appear in a message.
 */
import { ALERT_DEADLINE_SECONDS, EMAIL, NOT_READY_SECONDS } from "../alerting/src/contract";
import { scheduleIntervalSeconds, ScheduleError } from "../backup/schedule";

export const PROJECT = "workshop-postgres";
/** The local end of the port-forward that messages and the README suggest: 5432 may be a local PostgreSQL's. */
export const FORWARD_PORT = 15432;

export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";
export const SERVICE_TYPES: readonly ServiceType[] = ["ClusterIP", "NodePort", "LoadBalancer"];

/** libpq sslmode values accepted by the postgresql provider. */
export type SslMode = "disable" | "require" | "verify-ca" | "verify-full";
export const SSL_MODES: readonly SslMode[] = ["disable", "require", "verify-ca", "verify-full"];

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
}

export interface SchemaSettings {
    /** Address the deploying machine uses to reach PostgreSQL; undefined: what the Service exposes. */
    readonly host?: string;
    readonly port?: number;
    readonly sslMode: SslMode;
    readonly appUser: string;
    readonly schemaName: string;
}

export interface AlertSettings {
    readonly to: readonly string[];
    readonly from: string;
    readonly subjectPrefix: string;
    /** Upper bound of one alert send, retries included. */
    readonly deadlineSeconds: number;
    /** Official Node.js image that runs the mailer. */
    readonly image: string;
    readonly sendgridConfigured: boolean;
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

/** What the parser reads: plain values of keys, and whether a secret key is set. */
export interface ConfigSource {
    get(key: string): string | undefined;
    hasSecret(key: string): boolean;
}

export const DEFAULTS = {
    namespace: "workshop",
    dbUser: "postgres",
    image: "postgres:18.1",
    storageSize: "1Gi",
    serviceType: "ClusterIP" as ServiceType,
    resources: {
        requests: { cpu: "250m", memory: "256Mi" },
        limits: { cpu: "1", memory: "512Mi" },
    },
    sslMode: "disable" as SslMode,
    appUser: "workshop_app",
    schemaName: "workshop",
    alertSubjectPrefix: "[workshop-postgres]",
    alertDeadlineSeconds: ALERT_DEADLINE_SECONDS.default,
    alertImage: "node:24.11.1-alpine3.22",
    watcherNotReadySeconds: NOT_READY_SECONDS.default,
    backupSchedule: "15 2 * * *",
    backupKeep: 7,
    backupStorageSize: "2Gi",
    backupUser: "workshop_backup",
} as const;

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// PostgreSQL identifiers we create unquoted-safe: letters, digits, underscore; 63 bytes at most.
const PG_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const CPU = /^(\d+(\.\d+)?|\d+m)$/;
const BYTES = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const HOSTNAME = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;
const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IPV6_CIDR = /^[0-9A-Fa-f:]+\/(\d{1,3})$/;
/** PostgreSQL reserves names starting with pg_ for system schemas and predefined roles. */
const RESERVED_PREFIX = "pg_";
/** The oldest major whose psql has \getenv, which the postStart hook reads the password with. */
const MIN_POSTGRES_MAJOR = 15;

const QUANTITY_SUFFIXES: Record<string, bigint> = {
    "": 1n, k: 10n ** 3n, M: 10n ** 6n, G: 10n ** 9n, T: 10n ** 12n, P: 10n ** 15n, E: 10n ** 18n,
    Ki: 2n ** 10n, Mi: 2n ** 20n, Gi: 2n ** 30n, Ti: 2n ** 40n, Pi: 2n ** 50n, Ei: 2n ** 60n,
};

/** A quantity that CPU or BYTES accepts, as an exact fraction, so that 0.5Gi and 512Mi compare equal. */
function quantityFraction(quantity: string): [bigint, bigint] {
    const [, whole, fraction = "", suffix] = /^(\d+)(?:\.(\d+))?([A-Za-z]*)$/.exec(quantity)!;
    const milli = suffix === "m";
    return [BigInt(whole + fraction) * (milli ? 1n : QUANTITY_SUFFIXES[suffix]), 10n ** BigInt(fraction.length) * (milli ? 1000n : 1n)];
}

function quantityAbove(quantity: string, bound: string): boolean {
    const [numerator, denominator] = quantityFraction(quantity);
    const [boundNumerator, boundDenominator] = quantityFraction(bound);
    return numerator * boundDenominator > boundNumerator * denominator;
}

/** The major version an image's tag names (18 for postgres:18.1-bookworm); undefined for a digest or another kind of tag. */
function tagMajor(image: string): number | undefined {
    const lastSegment = image.slice(image.lastIndexOf("/") + 1).split("@")[0];
    const major = /:(\d+)(?:[.-]|$)/.exec(lastSegment);
    return major ? Number(major[1]) : undefined;
}

/** `postgres:18.1`, `registry:5000/team/postgres:18.1`, `postgres@sha256:…`: a tag other than latest, or a digest. */
export function imageProblem(image: string): string | undefined {
    if (/\s/.test(image) || image === "") {
        return "an image reference such as postgres:18.1";
    }
    if (/@sha256:[0-9a-f]{64}$/.test(image)) {
        return undefined;
    }
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const colon = lastSegment.lastIndexOf(":");
    if (colon < 0) {
        return "an image with a pinned tag or digest (for example postgres:18.1); it has no tag";
    }
    if (lastSegment.slice(colon + 1) === "latest") {
        return "an image with a pinned tag or digest (for example postgres:18.1), not latest";
    }
    return undefined;
}

function cidrValid(cidr: string): boolean {
    const v4 = IPV4_CIDR.exec(cidr);
    if (v4) {
        return v4.slice(1, 5).every((octet) => Number(octet) <= 255) && Number(v4[5]) <= 32;
    }
    const v6 = IPV6_CIDR.exec(cidr);
    return v6 !== null && cidr.includes(":") && Number(v6[1]) <= 128;
}

/** A list given as a JSON array (structured config) or as comma-separated text. */
function parseList(raw: string): string[] | undefined {
    if (raw.trim().startsWith("[")) {
        try {
            const parsed: unknown = JSON.parse(raw);
            return Array.isArray(parsed) && parsed.every((item) => typeof item === "string")
                ? parsed.map((item) => item.trim())
                : undefined;
        } catch {
            return undefined;
        }
    }
    return raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Parses the stack's configuration; throws one ConfigError listing every problem. */
export function parseSettings(source: ConfigSource): Settings {
    const problems: string[] = [];
    const bad = (key: string, expected: string, got?: string) =>
        problems.push(`${PROJECT}:${key}: expected ${expected}${got === undefined ? "" : `; got ${JSON.stringify(got)}`}`);

    const text = (key: string, fallback: string, pattern?: RegExp, expected?: string): string => {
        const raw = source.get(key);
        if (raw === undefined) {
            return fallback;
        }
        if (pattern && !pattern.test(raw)) {
            bad(key, expected ?? `a value matching ${pattern}`, raw);
        }
        return raw;
    };
    const integer = (key: string, min: number, max: number, what: string): number | undefined => {
        const raw = source.get(key);
        if (raw === undefined) {
            return undefined;
        }
        const value = Number(raw);
        if (!/^\d+$/.test(raw) || value < min || value > max) {
            bad(key, `${what}: a whole number from ${min} to ${max}`, raw);
            return undefined;
        }
        return value;
    };
    const flag = (key: string, fallback: boolean): boolean => {
        const raw = source.get(key);
        if (raw === undefined) {
            return fallback;
        }
        if (raw !== "true" && raw !== "false") {
            bad(key, "true or false", raw);
        }
        return raw === "true";
    };
    /** Undefined when the value is not allowed, so that checks depending on it are skipped. */
    const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T | undefined => {
        const raw = source.get(key) ?? fallback;
        if (!(allowed as readonly string[]).includes(raw)) {
            bad(key, `one of ${allowed.join(", ")}`, raw);
            return undefined;
        }
        return raw as T;
    };
    const list = (key: string, itemValid: (item: string) => boolean, expected: string): string[] => {
        const raw = source.get(key);
        if (raw === undefined) {
            return [];
        }
        const items = parseList(raw);
        if (items === undefined || !items.every(itemValid)) {
            bad(key, expected, raw);
            return [];
        }
        return items;
    };
    const secretRequired = (key: string, expected: string) => {
        if (!source.hasSecret(key)) {
            problems.push(`${PROJECT}:${key}: missing; expected ${expected}, set with \`pulumi config set --secret ${key} <value>\``);
        }
    };
    const storageQuantity = (key: string, fallback: string): string => {
        const size = text(key, fallback, BYTES, "a Kubernetes storage quantity such as 1Gi or 500Mi");
        if (BYTES.test(size) && parseFloat(size) <= 0) {
            bad(key, "a quantity greater than zero", size);
        }
        return size;
    };
    const storageClassName = (key: string): string | undefined => {
        const name = source.get(key);
        if (name !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
            bad(key, "a StorageClass name (lower-case DNS subdomain)", name);
        }
        return name;
    };

    const namespace = text("namespace", DEFAULTS.namespace, DNS_LABEL,
        "a Kubernetes namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit");
    if (namespace.length > 63) {
        bad("namespace", "at most 63 characters", namespace);
    }
    const unreserved = (key: string, value: string, what: string) => {
        if (value.startsWith(RESERVED_PREFIX)) {
            bad(key, `${what} that does not start with ${RESERVED_PREFIX}, which PostgreSQL reserves`, value);
        }
    };
    const dbUser = text("dbUser", DEFAULTS.dbUser, PG_IDENTIFIER,
        "a PostgreSQL role name: a letter or '_' then letters, digits or '_', at most 63 characters");
    unreserved("dbUser", dbUser, "a role name");
    const dbName = source.get("dbName");
    if (dbName === undefined) {
        problems.push(`${PROJECT}:dbName: missing; expected the database name, for example WORKSHOP`);
    } else if (!PG_IDENTIFIER.test(dbName)) {
        bad("dbName", "a database name: a letter or '_' then letters, digits or '_', at most 63 characters", dbName);
    }
    secretRequired("dbPassword", "the PostgreSQL superuser password");

    const image = text("image", DEFAULTS.image);
    const imageIssue = imageProblem(image);
    if (imageIssue) {
        bad("image", imageIssue, image);
    }
    const major = tagMajor(image);
    if (!imageIssue && major !== undefined && major < MIN_POSTGRES_MAJOR) {
        bad("image", `PostgreSQL ${MIN_POSTGRES_MAJOR} or later (the postStart hook reads the password with psql's \\getenv)`, image);
    }

    const storageSize = storageQuantity("storageSize", DEFAULTS.storageSize);
    const storageClass = storageClassName("storageClass");

    const serviceType = oneOf("serviceType", SERVICE_TYPES, DEFAULTS.serviceType);
    const nodePort = integer("nodePort", 30000, 32767, "a NodePort");
    if (nodePort !== undefined && serviceType === "ClusterIP") {
        bad("nodePort", "no nodePort when serviceType is ClusterIP", String(nodePort));
    }

    const resources: ComputeResources = {
        requests: {
            cpu: text("cpuRequest", DEFAULTS.resources.requests.cpu, CPU, "a CPU quantity such as 250m or 1"),
            memory: text("memoryRequest", DEFAULTS.resources.requests.memory, BYTES, "a memory quantity such as 256Mi"),
        },
        limits: {
            cpu: text("cpuLimit", DEFAULTS.resources.limits.cpu, CPU, "a CPU quantity such as 500m or 2"),
            memory: text("memoryLimit", DEFAULTS.resources.limits.memory, BYTES, "a memory quantity such as 512Mi or 1Gi"),
        },
    };
    // Kubernetes refuses a container whose request exceeds its limit.
    if (CPU.test(resources.requests.cpu) && CPU.test(resources.limits.cpu) && quantityAbove(resources.requests.cpu, resources.limits.cpu)) {
        bad("cpuRequest", `a CPU quantity no greater than cpuLimit (${resources.limits.cpu})`, resources.requests.cpu);
    }
    if (BYTES.test(resources.requests.memory) && BYTES.test(resources.limits.memory) &&
        quantityAbove(resources.requests.memory, resources.limits.memory)) {
        bad("memoryRequest", `a memory quantity no greater than memoryLimit (${resources.limits.memory})`, resources.requests.memory);
    }

    const allowedCidrs = list("allowedCidrs", cidrValid,
        "a list of CIDRs such as [\"10.0.0.0/8\"] or 10.0.0.0/8,192.168.0.0/16");
    const allowedNamespaces = list("allowedNamespaces", (item) => DNS_LABEL.test(item) && item.length <= 63,
        "a list of namespace names such as [\"apps\"] or apps,jobs");

    const dbHost = source.get("dbHost");
    if (dbHost !== undefined && !HOSTNAME.test(dbHost)) {
        bad("dbHost", "a host name or IP address such as 127.0.0.1", dbHost);
    }
    const dbPort = integer("dbPort", 1, 65535, "a TCP port");
    if (serviceType === "ClusterIP" && dbHost === undefined) {
        problems.push(`${PROJECT}:dbHost: missing; a ClusterIP Service is not reachable from the deploying machine, ` +
            `so set dbHost and dbPort to an address that reaches PostgreSQL, for example 127.0.0.1 and ${FORWARD_PORT} with ` +
            `\`kubectl -n ${namespace} port-forward svc/postgres ${FORWARD_PORT}:5432\` in another terminal (not local port 5432, which a ` +
            "PostgreSQL of your own may hold), or choose serviceType NodePort or LoadBalancer");
    }
    if (serviceType === "NodePort" && dbHost === undefined) {
        problems.push(`${PROJECT}:dbHost: missing; with serviceType NodePort set dbHost to a node address ` +
            "that the deploying machine reaches, for example 127.0.0.1 on Docker Desktop or the output of `minikube ip`");
    }
    const appUser = text("appUser", DEFAULTS.appUser, PG_IDENTIFIER,
        "a PostgreSQL role name: a letter or '_' then letters, digits or '_', at most 63 characters");
    if (appUser === dbUser) {
        bad("appUser", "a role other than dbUser (the application must not run as the superuser)", appUser);
    }
    unreserved("appUser", appUser, "a role name");
    const schemaName = text("schemaName", DEFAULTS.schemaName, PG_IDENTIFIER,
        "a schema name: a letter or '_' then letters, digits or '_'");
    unreserved("schemaName", schemaName, "a schema name");
    secretRequired("appPassword", "the password of the application role");

    const alertTo = list("alertTo", (item) => EMAIL.test(item),
        "one or more e-mail addresses, as [\"ops@example.com\"] or ops@example.com,dba@example.com");
    const alertFrom = source.get("alertFrom");
    if (alertFrom === undefined) {
        problems.push(`${PROJECT}:alertFrom: missing; expected the sender address, for example alerts@example.com`);
    } else if (!EMAIL.test(alertFrom)) {
        bad("alertFrom", "one e-mail address such as alerts@example.com", alertFrom);
    }
    if (source.get("alertTo") === undefined) {
        problems.push(`${PROJECT}:alertTo: missing; expected one or more e-mail addresses, for example ops@example.com`);
    }
    const subjectPrefix = text("alertSubjectPrefix", DEFAULTS.alertSubjectPrefix, /^[^\r\n]{0,60}$/,
        "one line of at most 60 characters");
    const deadlineSeconds = integer("alertDeadlineSeconds", ALERT_DEADLINE_SECONDS.min, ALERT_DEADLINE_SECONDS.max, "seconds") ?? DEFAULTS.alertDeadlineSeconds;
    const alertImage = text("alertImage", DEFAULTS.alertImage);
    const alertImageIssue = imageProblem(alertImage);
    if (alertImageIssue) {
        bad("alertImage", alertImageIssue.replace("postgres:18.1", DEFAULTS.alertImage), alertImage);
    }

    const backupEnabled = flag("backupEnabled", true);
    const backupSchedule = text("backupSchedule", DEFAULTS.backupSchedule);
    try {
        scheduleIntervalSeconds(backupSchedule);
    } catch (error) {
        if (!(error instanceof ScheduleError)) {
            throw error;
        }
        bad("backupSchedule", `a cron schedule in UTC, five fields (minute hour day-of-month month day-of-week) such as "15 2 * * *" or a macro such as @daily; ${error.message}`, backupSchedule);
    }
    const backupUser = text("backupUser", DEFAULTS.backupUser, PG_IDENTIFIER,
        "a PostgreSQL role name: a letter or '_' then letters, digits or '_', at most 63 characters");
    if (backupUser === dbUser || backupUser === appUser) {
        bad("backupUser", "a role of its own, other than dbUser and appUser (it may read everything and write nothing)", backupUser);
    }
    if (backupEnabled) {
        secretRequired("backupPassword", "the password of the backup role");
    }

    const settings: Settings = {
        namespace,
        createNamespace: flag("createNamespace", true),
        dbUser,
        dbName: dbName ?? "",
        image,
        storageSize,
        storageClass,
        serviceType: serviceType ?? DEFAULTS.serviceType,
        nodePort,
        resources,
        allowedCidrs,
        allowedNamespaces,
        allowDataDeletion: flag("allowDataDeletion", false),
        schema: {
            host: dbHost,
            port: dbPort,
            sslMode: oneOf("sslMode", SSL_MODES, DEFAULTS.sslMode) ?? DEFAULTS.sslMode,
            appUser,
            schemaName,
        },
        alert: {
            to: alertTo,
            from: alertFrom ?? "",
            subjectPrefix,
            deadlineSeconds,
            image: alertImage,
            sendgridConfigured: source.hasSecret("sendgridApiKey"),
        },
        watcher: {
            enabled: flag("watcherEnabled", true),
            notReadySeconds: integer("watcherNotReadySeconds", NOT_READY_SECONDS.min, NOT_READY_SECONDS.max, "seconds") ?? DEFAULTS.watcherNotReadySeconds,
        },
        backup: {
            enabled: backupEnabled,
            schedule: backupSchedule,
            keep: integer("backupKeep", 1, 100, "backups to keep") ?? DEFAULTS.backupKeep,
            storageSize: storageQuantity("backupStorageSize", DEFAULTS.backupStorageSize),
            storageClass: storageClassName("backupStorageClass"),
            user: backupUser,
        },
    };
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return settings;
}

/**
 * Pure builders for the PostgreSQL Kubernetes objects: no Pulumi resources, no I/O, so the
 * rules they encode are testable on plain objects.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { ComputeResources } from "./settings";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type PodSpec = k8s.types.input.core.v1.PodSpec;
type ClaimSpec = k8s.types.input.core.v1.PersistentVolumeClaimSpec;

/** uid and gid of the `postgres` user in the official Debian-based image. */
export const POSTGRES_UID = 999;
export const POSTGRES_PORT = 5432;
/** The volume is mounted here; PGDATA is a sub-directory because initdb refuses a non-empty mount root (lost+found). */
export const DATA_MOUNT = "/var/lib/postgresql/data";
export const PGDATA = `${DATA_MOUNT}/pgdata`;
/** Seconds PostgreSQL gets for a fast shutdown (pg_ctl stop -m fast -t …) before the kubelet may kill it. */
export const SHUTDOWN_SECONDS = 30;
/** Slack between the last budget and SIGKILL. */
const GRACE_MARGIN_SECONDS = 5;

export const PORT_NAME = "postgresql";
export const CONTAINER_NAME = "postgres";

export interface PodExtension {
    /** Extra containers (the alert sidecar) that share the pod's lifecycle. */
    readonly containers: Input<Container>[];
    readonly volumes: Input<Volume>[];
    /** Seconds the extension needs during termination (the alert's send deadline). */
    readonly shutdownSeconds: number;
}

export function podLabels(instance: string): Record<string, string> {
    return {
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": "database",
    };
}

export function commonLabels(instance: string): Record<string, string> {
    return { ...podLabels(instance), "app.kubernetes.io/part-of": "workshop-postgres", "app.kubernetes.io/managed-by": "pulumi" };
}

/** A volume for one pod at a time; no StorageClass means the cluster's default. */
export function readWriteOnceClaim(storageSize: string, storageClass?: string): ClaimSpec {
    return {
        accessModes: ["ReadWriteOnce"],
        storageClassName: storageClass,
        resources: { requests: { storage: storageSize } },
    };
}

/** Non-secret settings for the container environment; the password lives only in the Secret. */
export function settingsData(dbUser: string, dbName: string): Record<string, string> {
    return { POSTGRES_USER: dbUser, POSTGRES_DB: dbName, PGDATA };
}

/** The grace period covers every budget that runs during termination, plus a margin. */
export function terminationGraceSeconds(extension?: PodExtension): number {
    return SHUTDOWN_SECONDS + (extension?.shutdownSeconds ?? 0) + GRACE_MARGIN_SECONDS;
}

/** The restricted Pod Security Standard, applied to every container of the stack. */
export function restrictedContainerSecurity(uid: number) {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
    };
}

export function restrictedPodSecurity(uid: number) {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup: uid,
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    };
}

const pgIsReady = (timeoutSeconds: number) => ({
    exec: {
        // Over TCP: during initdb the entrypoint's temporary server listens on the socket only.
        command: ["sh", "-c", `exec pg_isready -q -t ${timeoutSeconds} -h 127.0.0.1 -p ${POSTGRES_PORT} -U "$POSTGRES_USER" -d "$POSTGRES_DB"`],
    },
});

/**
 * The image applies POSTGRES_PASSWORD only when it initialises an empty volume. This postStart hook
 * makes a changed password take effect on the next start, over the local socket (trusted by the image).
 */
export const SYNC_PASSWORD_SCRIPT = [
    "for attempt in $(seq 1 120); do",
    `  echo "ALTER ROLE :\\"pg_user\\" WITH PASSWORD :'pg_password';" | psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -v pg_user="$POSTGRES_USER" -v pg_password="$POSTGRES_PASSWORD" >/dev/null 2>&1 && exit 0`,
    "  sleep 1",
    "done",
    "echo 'could not apply POSTGRES_PASSWORD' >&2",
    "exit 1",
].join("\n");

export interface PostgresPodArgs {
    readonly instance: string;
    readonly image: string;
    readonly resources: ComputeResources;
    readonly settingsConfigMap: Input<string>;
    readonly credentialsSecret: Input<string>;
    readonly dataClaim: Input<string>;
    readonly extension?: PodExtension;
}

export function postgresContainer(args: PostgresPodArgs): Container {
    return {
        name: CONTAINER_NAME,
        image: args.image,
        imagePullPolicy: "IfNotPresent",
        ports: [{ name: PORT_NAME, containerPort: POSTGRES_PORT, protocol: "TCP" }],
        envFrom: [{ configMapRef: { name: args.settingsConfigMap } }],
        env: [{ name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: args.credentialsSecret, key: "password" } } }],
        resources: {
            requests: { ...args.resources.requests },
            limits: { ...args.resources.limits },
        },
        // Up to 5 minutes for initdb on slow storage before liveness applies.
        startupProbe: { ...pgIsReady(4), periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 },
        readinessProbe: { ...pgIsReady(4), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
        livenessProbe: { ...pgIsReady(4), periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
        lifecycle: {
            postStart: { exec: { command: ["sh", "-c", SYNC_PASSWORD_SCRIPT] } },
            // A fast shutdown ends client sessions and checkpoints, well inside the grace period.
            preStop: { exec: { command: ["sh", "-c", `exec pg_ctl stop -D "$PGDATA" -m fast -w -t ${SHUTDOWN_SECONDS}`] } },
        },
        securityContext: restrictedContainerSecurity(POSTGRES_UID),
        volumeMounts: [
            { name: "data", mountPath: DATA_MOUNT },
            { name: "run", mountPath: "/var/run/postgresql" },
            { name: "tmp", mountPath: "/tmp" },
            { name: "shm", mountPath: "/dev/shm" },
        ],
    };
}

export function postgresPodSpec(args: PostgresPodArgs): PodSpec {
    return {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: terminationGraceSeconds(args.extension),
        securityContext: restrictedPodSecurity(POSTGRES_UID),
        containers: [postgresContainer(args), ...(args.extension?.containers ?? [])],
        volumes: [
            { name: "data", persistentVolumeClaim: { claimName: args.dataClaim } },
            { name: "run", emptyDir: { sizeLimit: "16Mi" } },
            { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
            // The runtime's default 64 MiB /dev/shm is too small for parallel queries.
            { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } },
            ...(args.extension?.volumes ?? []),
        ],
    };
}

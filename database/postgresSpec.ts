/**
 * Pure builders for the PostgreSQL Kubernetes objects: no Pulumi resources, no I/O, so the
 * rules they encode are testable on plain objects.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { ComputeResources } from "../config/settings";
import { LifecycleBudget, PodExtension, restrictedContainerSecurity, restrictedPodSecurity } from "../kube/pod";
import { ServerTlsObjects, tlsServerArgs, tlsVolumeMounts, tlsVolumes } from "./tlsSpec";

type Container = k8s.types.input.core.v1.Container;
type PodSpec = k8s.types.input.core.v1.PodSpec;

/** uid and gid of the `postgres` user in the official Debian-based image. */
export const POSTGRES_UID = 999;
export const POSTGRES_PORT = 5432;
/** The volume is mounted here; PGDATA is a sub-directory because initdb refuses a non-empty mount root (lost+found). */
export const DATA_MOUNT = "/var/lib/postgresql/data";
export const PGDATA = `${DATA_MOUNT}/pgdata`;
/** Seconds PostgreSQL gets for a fast shutdown before the kubelet may kill it. */
export const SHUTDOWN_SECONDS = 30;
/** Slack between the last budget and SIGKILL. */
const GRACE_MARGIN_SECONDS = 5;
/** The startup probe's checks: up to 5 minutes for initdb or crash recovery on slow storage before liveness applies. */
const STARTUP_PERIOD_SECONDS = 5;
const STARTUP_FAILURE_THRESHOLD = 60;
/** How long a start may take: the startup probe's window, which the postStart hook waits out too. */
export const STARTUP_SECONDS = STARTUP_PERIOD_SECONDS * STARTUP_FAILURE_THRESHOLD;
/**
 * initdb's options, which the image applies only when it initialises an empty volume. initdb's default
 * trusts loopback TCP, which every container of the pod shares: it needs the password like any other
 * address. The socket, mounted in this container only, stays trusted for the postStart hook.
 */
export const INITDB_ARGS = "--auth-host=scram-sha-256 --auth-local=trust";

/**
 * The lock beside PGDATA on the data volume that a server holds for its whole life: one postmaster at a
 * time on the volume, whatever removed the pod before. Not inside PGDATA, which initdb wants empty.
 */
export const SERVER_LOCK = `${DATA_MOUNT}/.postmaster.lock`;
/** The official image's ENTRYPOINT and CMD, which the container's args keep as they are. */
export const IMAGE_ENTRYPOINT: readonly string[] = ["docker-entrypoint.sh", "postgres"];

/**
 * PID 1's script, run with the image's entrypoint and command as its arguments. It opens the lock file
 * on fd 9 and takes an exclusive flock(2) on it, waiting (with a log line) while an older server, or any
 * of its backends, still holds it; then it execs the entrypoint, which execs the postmaster: PID 1 stays
 * the server and gets the stop signal, and fd 9 (the lock) stays open in the postmaster and every backend
 * it forks, so the kernel releases the lock only once the last process of the old server has exited.
 * flock works across PID and IPC namespaces, where PostgreSQL's own postmaster.pid check does not. While
 * it waits, the stop signal (which PID 1 would otherwise ignore) ends the wait.
 */
export const SERVER_LOCK_SCRIPT = [
    `exec 9>>"${SERVER_LOCK}"`,
    "if ! flock -n -x 9; then",
    `  echo "$(date -u +%FT%T.%3NZ) server lock: ${SERVER_LOCK} is held by another server on this volume; waiting for it to exit"`,
    "  flock -x 9 & waiter=$!",
    "  trap 'kill \"$waiter\" 2>/dev/null; exit 143' INT TERM",
    "  wait \"$waiter\" || exit 1",
    "  trap - INT TERM",
    "fi",
    `echo "$(date -u +%FT%T.%3NZ) server lock: ${SERVER_LOCK} acquired; starting the server"`,
    'exec "$@"',
].join("\n");

/**
 * restart_after_crash=off: after a backend's crash (a segfault, or the kernel's OOM kill of a query on cgroup v1) the postmaster
 * exits instead of recovering in place, so the container restarts: the kubelet reports it (OOMKilled too) and the watcher mails it.
 */
export const CRASH_ARGS: readonly string[] = ["-c", "restart_after_crash=off"];

/** The container's command and args: the lock script as PID 1, then the image's own entrypoint and command, with `serverArgs`. */
export function serverCommand(serverArgs: readonly string[] = []): { command: string[]; args: string[] } {
    return { command: ["sh", "-c", SERVER_LOCK_SCRIPT, "server-lock"], args: [...IMAGE_ENTRYPOINT, ...CRASH_ARGS, ...serverArgs] };
}

export const PORT_NAME = "postgresql";
export const CONTAINER_NAME = "postgres";

/** postStart gives up when a start takes longer than the startup probe allows; the server stops within SHUTDOWN_SECONDS. */
export const POSTGRES_BUDGET: LifecycleBudget = { postStartSeconds: STARTUP_SECONDS, stopSeconds: SHUTDOWN_SECONDS };

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

/** Non-secret settings for the container environment; the password lives only in the Secret. */
export function settingsData(dbUser: string, dbName: string): Record<string, string> {
    return { POSTGRES_USER: dbUser, POSTGRES_DB: dbName, PGDATA, POSTGRES_INITDB_ARGS: INITDB_ARGS };
}

/** The grace period covers the sum of the containers' stop budgets, plus a margin: more than containers stopping side by side need. */
export function terminationGraceSeconds(extension?: PodExtension): number {
    const budgets = [POSTGRES_BUDGET, ...Object.values(extension?.budgets ?? {})];
    return budgets.reduce((sum, budget) => sum + budget.stopSeconds, 0) + GRACE_MARGIN_SECONDS;
}

interface ProbeTiming {
    readonly initialDelaySeconds?: number;
    readonly periodSeconds?: number;
    readonly failureThreshold?: number;
}

/** The parts of a pod spec that time its containers' lifecycles. */
export interface PodTiming {
    readonly terminationGracePeriodSeconds?: number;
    readonly containers: readonly {
        readonly name: string;
        readonly startupProbe?: ProbeTiming;
        readonly lifecycle?: { readonly postStart?: unknown; readonly preStop?: unknown };
    }[];
}

/** Seconds a probe allows before it fails the container (Kubernetes' defaults where unset). */
function probeWindowSeconds(probe: ProbeTiming): number {
    return (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
}

/**
 * The rule the hooks' budgets follow; no problems when they fit. The kubelet runs the probes only
 * once postStart has returned, so postStart must not give up before the startup probe would; the
 * containers of a pod stop side by side, each within the grace period, less the margin.
 */
export function lifecycleBudgetProblems(pod: PodTiming, budgets: Readonly<Record<string, LifecycleBudget>>): string[] {
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    return pod.containers.flatMap((container) => {
        const budget = budgets[container.name];
        if (budget === undefined) {
            return [`${container.name}: no time budget`];
        }
        const problems: string[] = [];
        const startupWindow = container.startupProbe === undefined ? 0 : probeWindowSeconds(container.startupProbe);
        if (container.lifecycle?.postStart !== undefined && (budget.postStartSeconds ?? 0) < startupWindow) {
            problems.push(`${container.name}: postStart gives up after ${budget.postStartSeconds ?? 0} s, before the startup probe's ${startupWindow} s`);
        }
        if (budget.stopSeconds + GRACE_MARGIN_SECONDS > grace) {
            problems.push(`${container.name}: stopping takes up to ${budget.stopSeconds} s, more than the ${grace} s grace period less ${GRACE_MARGIN_SECONDS} s`);
        }
        return problems;
    });
}

const pgIsReady = (timeoutSeconds: number) => ({
    exec: {
        // Over TCP: during initdb the entrypoint's temporary server listens on the socket only.
        command: ["sh", "-c", `exec pg_isready -q -t ${timeoutSeconds} -h 127.0.0.1 -p ${POSTGRES_PORT} -U "$POSTGRES_USER" -d "$POSTGRES_DB"`],
    },
});

/**
 * postStart: the image applies POSTGRES_PASSWORD only when it initialises an empty volume, so this
 * applies it on every start, over the local socket. The kubelet probes only once postStart has
 * returned, so it keeps trying for as long as the startup probe would wait. psql reads the password
 * from the environment (\getenv, psql 15 and later), never from its command line, and the session
 * keeps the statement out of the server log; a held lock fails an attempt instead of hanging it.
 */
export const SYNC_PASSWORD_SCRIPT = [
    `deadline=$(( $(date +%s) + ${STARTUP_SECONDS} ))`,
    `until psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres >/dev/null 2>&1 <<'SQL'`,
    "\\getenv pg_user POSTGRES_USER",
    "\\getenv pg_password POSTGRES_PASSWORD",
    "SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = 'panic'; SET lock_timeout = '5s';",
    "ALTER ROLE :\"pg_user\" WITH PASSWORD :'pg_password';",
    "SQL",
    "do",
    `  if [ "$(date +%s)" -ge "$deadline" ]; then echo 'could not apply POSTGRES_PASSWORD within ${STARTUP_SECONDS} s' >&2; exit 1; fi`,
    "  sleep 1",
    "done",
].join("\n");

export interface PostgresPodArgs {
    readonly instance: string;
    readonly image: string;
    readonly resources: ComputeResources;
    readonly settingsConfigMap: Input<string>;
    readonly credentialsSecret: Input<string>;
    readonly dataClaim: Input<string>;
    readonly extension?: PodExtension;
    /** The server's certificate and pg_hba.conf; without them the server has no TLS. */
    readonly tls?: ServerTlsObjects;
}

export function postgresContainer(args: PostgresPodArgs): Container {
    return {
        name: CONTAINER_NAME,
        image: args.image,
        imagePullPolicy: "IfNotPresent",
        ...serverCommand(args.tls ? tlsServerArgs() : []),
        ports: [{ name: PORT_NAME, containerPort: POSTGRES_PORT, protocol: "TCP" }],
        envFrom: [{ configMapRef: { name: args.settingsConfigMap } }],
        env: [{ name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: args.credentialsSecret, key: "password" } } }],
        resources: {
            requests: { ...args.resources.requests },
            limits: { ...args.resources.limits },
        },
        startupProbe: { ...pgIsReady(4), periodSeconds: STARTUP_PERIOD_SECONDS, timeoutSeconds: 5, failureThreshold: STARTUP_FAILURE_THRESHOLD },
        readinessProbe: { ...pgIsReady(4), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
        livenessProbe: { ...pgIsReady(4), periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
        lifecycle: {
            postStart: { exec: { command: ["sh", "-c", SYNC_PASSWORD_SCRIPT] } },
            // Starts a fast shutdown whatever the image's stop signal, and returns before it can end: the
            // server is PID 1, and when it exits the kernel kills every process of the container, a hook
            // still running included. Even `pg_ctl -W` returns after its signal, which under load was too
            // late; so the hook leaves pg_ctl (exit 0 or 1, which the postmaster reaps as no crash) behind.
            // The kubelet then sends the stop signal and waits out the grace period.
            preStop: { exec: { command: ["sh", "-c", 'pg_ctl stop -D "$PGDATA" -m fast -W </dev/null >/dev/null 2>&1 &'] } },
        },
        securityContext: restrictedContainerSecurity(POSTGRES_UID),
        volumeMounts: [
            { name: "data", mountPath: DATA_MOUNT },
            { name: "run", mountPath: "/var/run/postgresql" },
            { name: "tmp", mountPath: "/tmp" },
            { name: "shm", mountPath: "/dev/shm" },
            ...(args.tls ? tlsVolumeMounts() : []),
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
            ...(args.tls ? tlsVolumes(args.tls) : []),
            ...(args.extension?.volumes ?? []),
        ],
    };
}

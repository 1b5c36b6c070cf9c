/** Pure builders for the alert sidecar and the watcher: environment, volumes, container. */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import { MAILER_ENV, POD_FACTS_ENV, WATCHER_ENV } from "../alerting/src/contract";
import { HARD_STOP_SLACK_MS } from "../alerting/src/runMain";
import { DEFAULT_BLIND_SECONDS, watcherGraceSeconds } from "../alerting/src/watch/budget";
import { LifecycleBudget, PodExtension, restrictedContainerSecurity, restrictedPodSecurity } from "../kube/pod";

type EnvVar = k8s.types.input.core.v1.EnvVar;
type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type PodSpec = k8s.types.input.core.v1.PodSpec;
type Probe = k8s.types.input.core.v1.Probe;

/** uid of the `node` user in the official Node.js images. */
export const NODE_UID = 1000;
export const BUNDLE_MOUNT = "/opt/alerting";
export const MAILER_BUNDLE = "pod-down-alert.js";
export const WATCHER_BUNDLE = "pod-watcher.js.gz";
/** Runs a gzip-compressed CommonJS bundle: unpacked in memory, so the root file system stays read-only. */
export const GZIP_LOADER = "const f=process.argv[1],M=require('module'),m=new M(f);m.filename=f;" +
    "m._compile(require('zlib').gunzipSync(require('fs').readFileSync(f)).toString(),f)";
export const SIDECAR_NAME = "alert";
/** Largest bundle accepted in a ConfigMap: the API server refuses objects over 1 MiB, and metadata needs room. */
export const MAX_BUNDLE_BYTES = 1024 * 1024 - 16 * 1024;

export interface MailerSettingsData {
    readonly to: readonly string[];
    readonly from: string;
    readonly subjectPrefix: string;
    readonly deadlineSeconds: number;
    readonly service: string;
    readonly database: string;
    readonly stack: string;
}

/** Non-secret mailer settings for a ConfigMap, under the contract's names, which the pod reads. */
export function mailerSettingsData(settings: MailerSettingsData): Record<string, string> {
    return {
        [MAILER_ENV.to]: settings.to.join(","),
        [MAILER_ENV.from]: settings.from,
        [MAILER_ENV.subjectPrefix]: settings.subjectPrefix,
        [MAILER_ENV.deadlineSeconds]: String(settings.deadlineSeconds),
        [POD_FACTS_ENV.service]: settings.service,
        [POD_FACTS_ENV.database]: settings.database,
        [POD_FACTS_ENV.stack]: settings.stack,
    };
}

const fromField = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** The SendGrid key from its Secret, when one is configured (none: log mode). */
function apiKeyEnv(apiKeySecret?: Input<string>): EnvVar[] {
    return apiKeySecret === undefined ? [] : [{ name: MAILER_ENV.apiKey, valueFrom: { secretKeyRef: { name: apiKeySecret, key: "apiKey" } } }];
}

/** Pod facts from the Downward API, and the API key. */
export function mailerEnv(apiKeySecret?: Input<string>): EnvVar[] {
    return [
        fromField(POD_FACTS_ENV.pod, "metadata.name"),
        fromField(POD_FACTS_ENV.namespace, "metadata.namespace"),
        fromField(POD_FACTS_ENV.node, "spec.nodeName"),
        fromField(POD_FACTS_ENV.podIp, "status.podIP"),
        ...apiKeyEnv(apiKeySecret),
    ];
}

export function bundleVolume(configMap: Input<string>): Volume {
    return { name: "alerting-bundle", configMap: { name: configMap, defaultMode: 0o444 } };
}

export interface AlertSidecarArgs {
    readonly image: string;
    readonly bundleConfigMap: Input<string>;
    readonly settingsConfigMap: Input<string>;
    readonly apiKeySecret?: Input<string>;
    readonly deadlineSeconds: number;
}

/** The mailer ends itself shortly after its deadline; the idle shell exits on TERM at once. */
export function alertBudget(deadlineSeconds: number): LifecycleBudget {
    return { stopSeconds: deadlineSeconds + HARD_STOP_SLACK_MS / 1000 };
}

/**
 * The preStop hook's command. An exec hook's own output is discarded unless the hook fails (the
 * kubelet then puts it in the FailedPreStopHook event), so the mailer writes to PID 1's stdout and
 * stderr, the container log, when this user may open them. Where it may not (user-namespaced pods,
 * a shared PID namespace, a runtime that does not hand the pipes to the container's user), node
 * runs all the same: the alert never depends on its log.
 */
export const MAILER_HOOK_SCRIPT = [
    "if { true >>/proc/1/fd/1 && true >>/proc/1/fd/2; } 2>/dev/null; then",
    `  exec node ${BUNDLE_MOUNT}/${MAILER_BUNDLE} >>/proc/1/fd/1 2>>/proc/1/fd/2`,
    "fi",
    `exec node ${BUNDLE_MOUNT}/${MAILER_BUNDLE}`,
].join("\n");

/** A container that idles in a shell (next to no CPU or memory) and whose preStop hook runs the mailer. */
export function alertSidecar(args: AlertSidecarArgs): PodExtension {
    const container: Container = {
        name: SIDECAR_NAME,
        image: args.image,
        imagePullPolicy: "IfNotPresent",
        command: ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while true; do sleep 86400 & wait $!; done"],
        envFrom: [{ configMapRef: { name: args.settingsConfigMap } }],
        env: mailerEnv(args.apiKeySecret),
        lifecycle: { preStop: { exec: { command: ["/bin/sh", "-c", MAILER_HOOK_SCRIPT] } } },
        // Node needs a burst of CPU to start quickly inside the grace period; idle use is nil.
        resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
        securityContext: restrictedContainerSecurity(NODE_UID),
        volumeMounts: [{ name: "alerting-bundle", mountPath: BUNDLE_MOUNT, readOnly: true }],
    };
    return { containers: [container], volumes: [bundleVolume(args.bundleConfigMap)], budgets: { [SIDECAR_NAME]: alertBudget(args.deadlineSeconds) } };
}

export interface WatcherPodArgs {
    readonly image: string;
    readonly bundleConfigMap: Input<string>;
    readonly settingsConfigMap: Input<string>;
    readonly apiKeySecret?: Input<string>;
    readonly serviceAccount: Input<string>;
    /** Label selector of the PostgreSQL pods, such as app.kubernetes.io/name=postgresql,… */
    readonly selector: string;
    readonly notReadySeconds: number;
    /** Name of the PostgreSQL container, whose state and log the alerts report. */
    readonly postgresContainer: string;
    /** Upper bound of one alert send: the stop's grace period lets one started at SIGTERM finish. */
    readonly deadlineSeconds: number;
    /** The backup Jobs to watch too, when backups are on. */
    readonly backups?: WatchedBackups;
}

export interface WatchedBackups {
    /** Label selector of the backup Jobs. */
    readonly jobSelector: string;
    /** Longest time between two scheduled runs: no success for twice this is an alert. */
    readonly intervalSeconds: number;
}

/** Where the watcher writes its probe files and its state: an emptyDir, which outlives a container restart. */
export const WATCHER_HEALTH_DIR = "/run/watcher";

/** Whether the watcher's verdict file holds a time still to come; the watcher rewrites it every few seconds. */
function verdictHolds(verdict: "ready" | "live"): string {
    return `read -r until < ${WATCHER_HEALTH_DIR}/${verdict} && [ "$(date +%s)" -le "$until" ]`;
}

/**
 * An exec probe that passes while the verdict holds, so a stuck process fails it too. busybox sh
 * and date only: no listening port, and no second Node process in the container's memory.
 */
export function watcherProbe(verdict: "ready" | "live"): k8s.types.input.core.v1.ExecAction {
    return { command: ["/bin/sh", "-c", verdictHolds(verdict)] };
}

/** How long one run of the startup probe may wait, and how often it runs. */
const STARTUP_WAIT_SECONDS = 30;

/**
 * The startup probe: one run waits, up to its timeout, until the watcher says it is ready. The
 * verdict files appear only once the bundle has loaded, and it is ready once its watches are open,
 * so probing earlier would only fail ("Readiness probe failed: cannot open /run/watcher/ready", an
 * event at every start); Kubernetes runs the other probes once this one has passed. A watcher that
 * cannot watch is restarted when the window ends: as by liveness, not before it has mailed that it is blind.
 */
export function watcherStartupProbe(): Probe {
    return {
        exec: { command: ["/bin/sh", "-c", `until { ${verdictHolds("ready")}; } 2>/dev/null; do sleep 1; done`] },
        periodSeconds: STARTUP_WAIT_SECONDS,
        timeoutSeconds: STARTUP_WAIT_SECONDS,
        failureThreshold: Math.ceil(DEFAULT_BLIND_SECONDS / STARTUP_WAIT_SECONDS) + 1,
    };
}

export function labelSelector(labels: Record<string, string>): string {
    return Object.entries(labels).map(([key, value]) => `${key}=${value}`).join(",");
}

/** The watcher's pod: the only one of the stack that mounts an API token, for its own least-privilege account. */
export function watcherPodSpec(args: WatcherPodArgs): PodSpec {
    const graceSeconds = watcherGraceSeconds(args.deadlineSeconds);
    return {
        serviceAccountName: args.serviceAccount,
        automountServiceAccountToken: true,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: graceSeconds,
        securityContext: restrictedPodSecurity(NODE_UID),
        containers: [{
            name: "watcher",
            image: args.image,
            imagePullPolicy: "IfNotPresent",
            command: ["node", "-e", GZIP_LOADER, `${BUNDLE_MOUNT}/${WATCHER_BUNDLE}`],
            envFrom: [{ configMapRef: { name: args.settingsConfigMap } }],
            env: [
                fromField(WATCHER_ENV.namespace, "metadata.namespace"),
                { name: WATCHER_ENV.selector, value: args.selector },
                { name: WATCHER_ENV.notReadySeconds, value: String(args.notReadySeconds) },
                { name: WATCHER_ENV.postgresContainer, value: args.postgresContainer },
                { name: WATCHER_ENV.healthDir, value: WATCHER_HEALTH_DIR },
                { name: WATCHER_ENV.graceSeconds, value: String(graceSeconds) },
                ...(args.backups ? [
                    { name: WATCHER_ENV.backupSelector, value: args.backups.jobSelector },
                    { name: WATCHER_ENV.backupIntervalSeconds, value: String(args.backups.intervalSeconds) },
                ] : []),
                // Its own pod's facts name it in the mail that pod alerts are not working.
                ...mailerEnv(args.apiKeySecret),
            ],
            startupProbe: watcherStartupProbe(),
            // Ready: a watch is open (or reopening after a clean close). Live: not blind for the bound; a
            // restart gives a fresh CA bundle, token and connections, and the emptyDir keeps its state.
            readinessProbe: { exec: watcherProbe("ready"), periodSeconds: 5, failureThreshold: 1, timeoutSeconds: 2 },
            livenessProbe: { exec: watcherProbe("live"), periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
            // From `npm run bench`: peak RSS about 127 MiB under load, watching pods and Jobs (README). The request covers the peak, so
            // under node memory pressure the watcher is not among the pods evicted first; the limit leaves half again.
            resources: { requests: { cpu: "20m", memory: "144Mi" }, limits: { cpu: "250m", memory: "192Mi" } },
            securityContext: restrictedContainerSecurity(NODE_UID),
            volumeMounts: [
                { name: "alerting-bundle", mountPath: BUNDLE_MOUNT, readOnly: true },
                { name: "watcher-state", mountPath: WATCHER_HEALTH_DIR },
            ],
        }],
        volumes: [bundleVolume(args.bundleConfigMap), { name: "watcher-state", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } }],
    };
}

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { labelSelector, WATCHER_BUNDLE, watcherPodSpec, WatchedBackups } from "./alertSpec";
import { DEFAULTS } from "../config/settings";
import { readBundle, type AlertMailer } from "./alertMailer";

export interface PodWatcherArgs {
    readonly namespace: pulumi.Input<string>;
    /** Labels that select the PostgreSQL pods. */
    readonly podLabels: Record<string, string>;
    /** Name of the PostgreSQL container in those pods, whose log a down mail quotes. */
    readonly postgresContainer: string;
    /** The mailer whose settings, key and image the watcher shares. */
    readonly mailer: AlertMailer;
    /** Seconds a pod may be NotReady, or absent, before it counts as down (default 60). */
    readonly notReadySeconds?: number;
    /**
     * The backup Jobs to watch too (the Backup component's selector and interval), when backups are
     * on. Plain values known at preview: the watcher does not wait for the backup to be created.
     */
    readonly backups?: WatchedBackups;
    readonly labels?: Record<string, string>;
}

/**
 * Alerts on what preStop cannot see (crashes, OOM kills, hard evictions, lost nodes, a pod that
 * never becomes ready), and on failed or missing backups, from a Deployment of its own, with a
 * namespaced Role that can only read pods, their logs and (with backups) Jobs.
 */
export class PodWatcher extends pulumi.ComponentResource {
    public readonly serviceAccountName: pulumi.Output<string>;

    constructor(name: string, args: PodWatcherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("workshop:alerting:PodWatcher", name, {}, opts);
        const labels = { ...args.labels, "app.kubernetes.io/component": "pod-watcher" };
        const metadata = { namespace: args.namespace, labels };

        const bundle = new k8s.core.v1.ConfigMap(`${name}-bundle`, {
            metadata,
            binaryData: { [WATCHER_BUNDLE]: readBundle(WATCHER_BUNDLE, "base64") },
        }, { parent: this });

        const account = new k8s.core.v1.ServiceAccount(name, {
            metadata: { ...metadata, name },
            automountServiceAccountToken: false,
        }, { parent: this });

        const role = new k8s.rbac.v1.Role(name, {
            metadata: { ...metadata, name },
            rules: [
                { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
                ...(args.backups ? [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "watch"] }] : []),
            ],
        }, { parent: this });

        new k8s.rbac.v1.RoleBinding(name, {
            metadata: { ...metadata, name },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: args.namespace }],
        }, { parent: this });

        const selectorLabels = { "app.kubernetes.io/name": "pod-watcher", "app.kubernetes.io/instance": name };
        new k8s.apps.v1.Deployment(name, {
            metadata: { ...metadata, name },
            spec: {
                replicas: 1,
                // Two watchers at once would mail twice.
                strategy: { type: "Recreate" },
                selector: { matchLabels: selectorLabels },
                template: {
                    metadata: { labels: { ...labels, ...selectorLabels } },
                    spec: watcherPodSpec({
                        image: args.mailer.image,
                        bundleConfigMap: bundle.metadata.name,
                        settingsConfigMap: args.mailer.settingsConfigMap,
                        apiKeySecret: args.mailer.apiKeySecret,
                        serviceAccount: account.metadata.name,
                        selector: labelSelector(args.podLabels),
                        notReadySeconds: args.notReadySeconds ?? DEFAULTS.watcherNotReadySeconds,
                        postgresContainer: args.postgresContainer,
                        deadlineSeconds: args.mailer.deadlineSeconds,
                        backups: args.backups,
                    }),
                },
            },
        }, { parent: this });

        this.serviceAccountName = account.metadata.name;
        this.registerOutputs({ serviceAccountName: this.serviceAccountName });
    }
}

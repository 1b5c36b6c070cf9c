/**
 * Published credentials stay on a cluster only you can reach. The dev stack's password and
 * passphrase are in the README; on a cluster others reach, its superuser would be anyone's (and
 * `COPY … TO PROGRAM` a shell). Such a stack runs on a local cluster, or where the user confirms
 * that only they can reach it; anywhere else preview refuses and says how to make a stack of one's own.
 */
import { DEFAULTS } from "./defaults";
import { Reader } from "./reader";
import type { ExposureSettings } from "./types";

/** What the README and Pulumi.dev.yaml publish. Compared only; never printed. */
export const PUBLISHED = {
    /** The dev stack's passphrase (scripts/pulumi.sh supplies it). */
    passphrase: "workshop-dev",
    /** The challenge's superuser password, the dev stack's dbPassword. */
    password: "Aw3s0m3",
} as const;

export const PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE";

export function readExposure(reader: Reader): ExposureSettings {
    const readableSecrets: string[] = [];
    if (reader.flag("publicCredentials", DEFAULTS.publicCredentials)) {
        readableSecrets.push("publicCredentials is true: its secrets are committed under a published passphrase");
    }
    if (reader.source.env?.(PASSPHRASE_ENV) === PUBLISHED.passphrase) {
        readableSecrets.push(`its passphrase is the published dev passphrase ${PUBLISHED.passphrase}`);
    }
    const publicCredentials = [...readableSecrets];
    if (reader.source.secret?.("dbPassword") === PUBLISHED.password) {
        publicCredentials.push("its dbPassword is the challenge's password, which the README publishes");
    }
    return { publicCredentials, readableSecrets, clusterIsPrivate: reader.flag("clusterIsPrivate", DEFAULTS.clusterIsPrivate) };
}

/** Whether the deploying machine's cluster is one only it reaches (kube/localCluster.ts tells). */
export interface ClusterLocality {
    readonly local: boolean;
    /** Which cluster, and why it counts as local or not; for messages. */
    readonly description: string;
    /** The kubeconfig cannot be read: its problem, in one line with the next command. */
    readonly kubeconfigProblem?: string;
}

/**
 * Refuses a stack with published credentials on a cluster that is not local. `locality` reads the
 * kubeconfig, and is called only for such a stack; without it the cluster counts as not local.
 */
export function refuseReachableCluster(reader: Reader, exposure: ExposureSettings, locality?: () => ClusterLocality): void {
    if (exposure.publicCredentials.length === 0 || exposure.clusterIsPrivate) {
        return;
    }
    const cluster = locality?.() ?? { local: false, description: "the program was given no way to read the kubeconfig" };
    // No cluster to tell (no kubeconfig, a context pointing nowhere): the program's first cluster read
    // refuses that at preview, before anything changes, with the next command to run.
    if (cluster.local || cluster.kubeconfigProblem !== undefined) {
        return;
    }
    reader.say("publicCredentials", `this stack's credentials are public (${exposure.publicCredentials.join("; ")}), so it deploys ` +
        `only to a cluster that no one else can reach, and this one may be reachable: ${cluster.description}. ` +
        "Switch to a local cluster (kind, minikube, k3d, Docker Desktop), or make a stack of your own with your own passphrase " +
        "and passwords: `export PULUMI_STACK=mine PULUMI_CONFIG_PASSPHRASE='<yours>'`, then " +
        "`npm run pulumi -- config set --secret dbPassword '<yours>'` (and appPassword, backupPassword, with dbName, alertTo and alertFrom: " +
        "docs/configuration.md#a-stack-of-your-own). If only you can reach this cluster, say so with " +
        "`npm run pulumi -- config set clusterIsPrivate true`");
}

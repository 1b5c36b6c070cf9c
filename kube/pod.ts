/**
 * What every pod of the stack shares, written where the objects are made: the restricted Pod
 * Security Standard, single-pod claims, and how a container added to another's pod (the alert
 * sidecar) brings its volumes and its time budget. Pure builders.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type ClaimSpec = k8s.types.input.core.v1.PersistentVolumeClaimSpec;

/** How long a container's lifecycle steps may take, as its commands bound them. */
export interface LifecycleBudget {
    /** Seconds the postStart hook keeps trying before it fails the container. */
    readonly postStartSeconds?: number;
    /** Seconds from the start of termination until the container has exited: its preStop hook, then its stop signal. */
    readonly stopSeconds: number;
}

export interface PodExtension {
    /** Extra containers (the alert sidecar) that share the pod's lifecycle. */
    readonly containers: Input<Container>[];
    readonly volumes: Input<Volume>[];
    /** Time budgets of the extra containers, by container name. */
    readonly budgets: Readonly<Record<string, LifecycleBudget>>;
}

/** A volume for one pod at a time; no StorageClass means the cluster's default. */
export function readWriteOnceClaim(storageSize: string, storageClass?: string): ClaimSpec {
    return {
        accessModes: ["ReadWriteOnce"],
        storageClassName: storageClass,
        resources: { requests: { storage: storageSize } },
    };
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

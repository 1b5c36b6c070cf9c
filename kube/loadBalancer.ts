/**
 * How long to wait for a LoadBalancer Service's address. The Kubernetes provider waits 10 minutes
 * and then fails; on a cluster with no load-balancer controller (kind, minikube without
 * `minikube tunnel`, the e2e's node) no address ever comes. A controller that handles the Service shows it
 * within seconds, as an event on the Service or as the address itself, so silence past a short
 * window means there is none: fail then, naming the ways forward.
 */

import { FORWARD_PORT, PROJECT } from "../config/settings";

/** Seconds without any sign of a controller after which the cluster is taken to have none. */
export const NO_CONTROLLER_SECONDS = 20;
/** Upper bound when a controller is at work (the provider's own default). */
export const LOAD_BALANCER_TIMEOUT_SECONDS = 600;

export interface LoadBalancerObservation {
    /** Seconds since the Service was created. */
    readonly ageSeconds: number;
    readonly ingress: readonly { readonly ip?: string; readonly hostname?: string }[];
    /** Events on the Service (a controller's "EnsuringLoadBalancer", "IPAllocated", warnings...). */
    readonly events: readonly { readonly type?: string; readonly reason?: string; readonly message?: string }[];
}

export type LoadBalancerVerdict =
    | { readonly kind: "ready"; readonly host: string }
    | { readonly kind: "wait" }
    | { readonly kind: "fail"; readonly message: string };

export interface ServiceId {
    readonly namespace: string;
    readonly name: string;
}

export function loadBalancerVerdict(service: ServiceId, seen: LoadBalancerObservation): LoadBalancerVerdict {
    const address = seen.ingress.find((entry) => entry.ip || entry.hostname);
    if (address) {
        return { kind: "ready", host: (address.ip || address.hostname) as string };
    }
    const id = `${service.namespace}/${service.name}`;
    if (seen.events.length === 0 && seen.ageSeconds >= NO_CONTROLLER_SECONDS) {
        return {
            kind: "fail",
            message: `the LoadBalancer Service ${id} has no address after ${Math.round(seen.ageSeconds)} s and no load-balancer controller ` +
                "has acted on it: this cluster has none (kind, or minikube without a tunnel). Either give it one " +
                "(`minikube tunnel` in another terminal, cloud-provider-kind, or MetalLB) and run `npm run up` again, " +
                `or publish nothing and let \`npm run up\` reach PostgreSQL through its tunnel over the API server ` +
                `(127.0.0.1:${FORWARD_PORT}): \`npm run pulumi -- config rm ${PROJECT}:serviceType\` (ClusterIP, the default; ` +
                `keep no ${PROJECT}:dbHost), and run \`npm run up\` again`,
        };
    }
    if (seen.ageSeconds >= LOAD_BALANCER_TIMEOUT_SECONDS) {
        const last = seen.events[seen.events.length - 1];
        return {
            kind: "fail",
            message: `the LoadBalancer Service ${id} has no address after ${Math.round(seen.ageSeconds)} s; ` +
                `its controller's last word: ${last?.reason ?? "none"}: ${last?.message ?? ""}`.trim() +
                `; set ${PROJECT}:dbHost and ${PROJECT}:dbPort to an address that reaches PostgreSQL to go on without it`,
        };
    }
    return { kind: "wait" };
}

/**
 * Read-only look-ups in the cluster that the Kubernetes provider will deploy to, made by the
 * program itself where the provider offers no answer: whether a retained object exists and whose
 * it is, and a LoadBalancer Service's address and events. Nothing here writes to the cluster. A
 * kubeconfig that names no cluster, and a read that fails, stop the program at preview with one
 * line that says what to do (kube/clusterProblems.ts).
 *
 * Tests replace the reader with `useClusterReader`, as the Pulumi mocks replace the engine.
 */
import type { Cluster, Context, CoreV1Api, KubeConfig, User } from "@kubernetes/client-node" with { "resolution-mode": "import" };
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { credentialProblem, Endpoint, kubeconfigProblem, KubeconfigState, Read, readProblem } from "./clusterProblems";
import { LoadBalancerObservation, loadBalancerVerdict, ServiceId } from "./loadBalancer";
import { refusal } from "./refusal";

/** Which cluster: the same settings the program gives its Kubernetes providers. */
export interface ClusterTarget {
    /** Contents or path of a kubeconfig (default: $KUBECONFIG or ~/.kube/config). */
    readonly kubeconfig?: string;
    readonly context?: string;
    readonly cluster?: string;
}

export interface ClusterReader {
    /** The object's annotations; undefined when it does not exist. */
    namespaceAnnotations(name: string): Promise<Record<string, string> | undefined>;
    claimAnnotations(namespace: string, name: string): Promise<Record<string, string> | undefined>;
    /** The Service's age, load-balancer ingress and events; undefined when it does not exist. */
    loadBalancer(service: ServiceId): Promise<LoadBalancerObservation | undefined>;
}

let override: ClusterReader | undefined;
const readers = new Map<string, Promise<ClusterReader>>();

/** Replaces the reader for every target (tests); undefined restores the real one. */
export function useClusterReader(reader: ClusterReader | undefined): void {
    override = reader;
}

export function clusterReader(target: ClusterTarget): Promise<ClusterReader> {
    if (override) {
        return Promise.resolve(override);
    }
    const key = JSON.stringify(target);
    if (!readers.has(key)) {
        readers.set(key, kubeReader(target));
    }
    return readers.get(key) as Promise<ClusterReader>;
}

/** Reads a kubeconfig file into `Config`; undefined when it cannot be read or parsed, with why. */
function loadFile(Config: typeof KubeConfig, file: string): { config?: KubeConfig; error?: string } {
    try {
        const config = new Config();
        config.loadFromFile(file);
        return { config };
    } catch (error) {
        return { error: (error as Error).message };
    }
}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/**
 * The kubeconfig the Kubernetes provider reads for `target`, read as kubectl and the provider read
 * it (client-go's rules): `kubernetes:kubeconfig` (contents or a path); else every file of
 * KUBECONFIG that exists, merged, the first to set a name winning; else ~/.kube/config; else the
 * pod's service account. Where client-node would instead fall back to http://localhost:8080 (and
 * fail with "HTTP protocol is not allowed…"), the state says that nothing was found.
 */
export function loadKubeconfig(Config: typeof KubeConfig, target: ClusterTarget, env: NodeJS.ProcessEnv = process.env,
    home: string = os.homedir()): { config: KubeConfig; state: KubeconfigState } {
    const config = new Config();
    const empty = { contexts: [], clusters: [], stackContext: target.context, stackCluster: target.cluster };
    const given = target.kubeconfig;
    let name: string;
    if (given !== undefined && (given.trimStart().startsWith("apiVersion") || given.includes("\n"))) {
        name = "the stack's kubernetes:kubeconfig";
        try {
            config.loadFromString(given);
        } catch (error) {
            return { config, state: { name, unreadable: (error as Error).message, ...empty } };
        }
    } else {
        // A leading ~ is the home directory, as client-go reads a kubeconfig path.
        const expand = (file: string) => file === "~" || file.startsWith("~/") ? path.join(home, file.slice(1)) : file;
        const files = (given !== undefined ? [given] : (env.KUBECONFIG ?? "").split(path.delimiter).filter((file) => file !== "")).map(expand);
        const by = given !== undefined ? "kubernetes:kubeconfig" : files.length > 0 ? "KUBECONFIG" : "default";
        const defaultFile = path.join(home, ".kube", "config");
        const looked = files.length > 0 ? files : [defaultFile];
        const existing = looked.filter((file) => fs.existsSync(file));
        if (existing.length === 0 && by === "default" && env.KUBERNETES_SERVICE_HOST && fs.existsSync(SERVICE_ACCOUNT_TOKEN)) {
            config.loadFromCluster();
            name = "the pod's service account";
        } else if (existing.length === 0) {
            return { config, state: { name: looked.join(path.delimiter), notFound: { looked, by }, ...empty } };
        } else {
            name = by === "KUBECONFIG" ? `KUBECONFIG (${files.join(path.delimiter)})` : existing[0];
            const merged = { clusters: [] as Cluster[], users: [] as User[], contexts: [] as Context[], currentContext: "" };
            for (const file of existing) {
                const loaded = loadFile(Config, file);
                if (!loaded.config) {
                    return { config, state: { name: file, unreadable: loaded.error, ...empty } };
                }
                const add = <T extends { name: string }>(into: T[], items: T[]) => into.push(...items.filter((item) => !into.some((known) => known.name === item.name)));
                add(merged.clusters, loaded.config.getClusters());
                add(merged.users, loaded.config.getUsers());
                add(merged.contexts, loaded.config.getContexts());
                merged.currentContext ||= loaded.config.getCurrentContext() ?? "";
            }
            config.loadFromOptions(merged);
        }
    }
    // A plain-HTTP server has no certificate to verify: kubectl talks to it as it is; client-node refuses unless told to skip the check.
    const clusters = config.getClusters().map((cluster) => cluster.server?.startsWith("http:") ? { ...cluster, skipTLSVerify: true } : cluster);
    config.loadFromOptions({ clusters, users: config.getUsers(), contexts: config.getContexts(), currentContext: config.getCurrentContext() });
    if (target.context !== undefined) {
        config.setCurrentContext(target.context);
    }
    const chosen = config.getCurrentContext();
    return {
        config,
        state: {
            name,
            contexts: config.getContexts().map((context) => context.name),
            clusters: clusters.map((cluster) => cluster.name),
            currentContext: config.getCurrentContext() === undefined ? undefined : String(config.getCurrentContext()),
            stackContext: target.context,
            stackCluster: target.cluster,
            contextCluster: chosen ? config.getContextObject(chosen)?.cluster : undefined,
        },
    };
}

/**
 * The kubeconfig of `target`, set to the cluster and credentials the Kubernetes provider uses, with
 * the credential already obtained; a problem (no kubeconfig, an unknown context, a failing exec
 * plugin) is thrown as one refusal that says what to do.
 */
export async function kubeConfigFor(target: ClusterTarget): Promise<{ config: KubeConfig; endpoint: Endpoint }> {
    // An ES module: loaded only when a real cluster is read, so mocked runs never pay for it.
    const { KubeConfig: Config } = await import("@kubernetes/client-node");
    const { config, state } = loadKubeconfig(Config, target);
    const problem = kubeconfigProblem(state);
    if (problem !== undefined) {
        throw refusal(problem);
    }
    if (target.cluster !== undefined) {
        // As the provider's `cluster` setting: the current context's user against another cluster of the kubeconfig.
        const current = config.getContextObject(config.getCurrentContext());
        config.addContext({ name: "workshop-postgres-reader", cluster: target.cluster, user: current?.user ?? "" });
        config.setCurrentContext("workshop-postgres-reader");
    }
    const user = config.getCurrentUser();
    const endpoint: Endpoint = {
        context: target.context ?? state.currentContext ?? "",
        server: config.getCurrentCluster()?.server ?? "",
        user: user?.name ?? "",
        plugin: user?.exec?.command ?? user?.authProvider?.config?.exec?.command ?? user?.authProvider?.name,
    };
    try {
        // The credential first (an exec plugin or auth-provider runs here, and client files are read), so that its failure is told as one.
        await config.applyToHTTPSOptions({});
    } catch (error) {
        throw refusal(credentialProblem(error, endpoint));
    }
    return { config, endpoint };
}

async function kubeReader(target: ClusterTarget): Promise<ClusterReader> {
    const { CoreV1Api: Api } = await import("@kubernetes/client-node");
    const { config, endpoint } = await kubeConfigFor(target);
    /** The object, or undefined when the cluster has none such yet (a 404). */
    const orUndefined = async <T>(read: Read, reading: Promise<T>): Promise<T | undefined> => {
        try {
            return await reading;
        } catch (error) {
            if ((error as { code?: number })?.code === 404) {
                return undefined;
            }
            throw refusal(readProblem(error, read, endpoint));
        }
    };
    const api: CoreV1Api = config.makeApiClient(Api);
    return {
        namespaceAnnotations: async (name) => {
            const found = await orUndefined({ what: `namespace ${name}`, verb: "get", resource: "namespaces" }, api.readNamespace({ name }));
            return found && (found.metadata?.annotations ?? {});
        },
        claimAnnotations: async (namespace, name) => {
            const found = await orUndefined({ what: `PersistentVolumeClaim ${namespace}/${name}`, verb: "get", resource: "persistentvolumeclaims", namespace },
                api.readNamespacedPersistentVolumeClaim({ namespace, name }));
            return found && (found.metadata?.annotations ?? {});
        },
        loadBalancer: async ({ namespace, name }) => {
            // A preview reads a Service that its update has not created yet.
            const service = await orUndefined({ what: `Service ${namespace}/${name}`, verb: "get", resource: "services", namespace },
                api.readNamespacedService({ namespace, name }));
            if (service === undefined) {
                return undefined;
            }
            const events = await orUndefined({ what: `the events of Service ${namespace}/${name}`, verb: "list", resource: "events", namespace },
                api.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${name}` }));
            const created = service.metadata?.creationTimestamp ? new Date(service.metadata.creationTimestamp).getTime() : Date.now();
            return {
                ageSeconds: (Date.now() - created) / 1000,
                ingress: (service.status?.loadBalancer?.ingress ?? []).map((entry) => ({ ip: entry.ip, hostname: entry.hostname })),
                events: (events?.items ?? []).map((event) => ({ type: event.type, reason: event.reason, message: event.message })),
            };
        },
    };
}

const POLL_MS = 1000;

/** The address, or why there will be none; "unknown" only in a preview, which shows the plan instead of waiting. */
export type LoadBalancerAddress =
    | { readonly kind: "ready"; readonly host: string }
    | { readonly kind: "unknown" }
    | { readonly kind: "fail"; readonly message: string };

/**
 * The Service's load-balancer address, waiting while a controller may still provide one. A
 * preview reads once: a Service it has not created yet, or one still waiting for its address, is unknown.
 */
export async function loadBalancerAddress(reader: ClusterReader, service: ServiceId, preview: boolean): Promise<LoadBalancerAddress> {
    for (;;) {
        const seen = await reader.loadBalancer(service);
        if (seen === undefined) {
            return preview ? { kind: "unknown" } : {
                kind: "fail",
                message: `the Service ${service.namespace}/${service.name} that this update created is not in the cluster the program reads; ` +
                    "the program reads the cluster of the stack's kubernetes:kubeconfig, kubernetes:context and kubernetes:cluster, " +
                    "else the current kube context, as the Kubernetes provider does: check that nothing else deleted the Service",
            };
        }
        const verdict = loadBalancerVerdict(service, seen);
        if (verdict.kind !== "wait") {
            return verdict;
        }
        if (preview) {
            return { kind: "unknown" };
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

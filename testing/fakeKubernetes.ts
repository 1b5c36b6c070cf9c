/**
 * A stand-in for the Kubernetes API on loopback, enough for the watcher's informers: list and watch
 * of the pods and of the batch/v1 Jobs of a namespace (with resource versions, history replay,
 * bookmarks, dropped watches and 410 Gone after compaction) and pod logs; bearer-token
 * authentication (401), an RBAC switch per resource (403) and, optionally, TLS with a certificate
 * the client does not trust. Every request is recorded. Label selectors are not applied.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { ago, MINUTE, STARTED_AT } from "./clock";

export interface ApiRequest {
    readonly path: string;
    readonly query: URLSearchParams;
    readonly authorization?: string;
}

interface HistoryEvent {
    readonly resourceVersion: number;
    readonly type: "ADDED" | "MODIFIED" | "DELETED";
    readonly object: any;
}

/** The collections served, by the kind of their objects. */
type Kind = "Pod" | "Job";
type Resource = "pods" | "jobs";

interface Collection {
    readonly kind: Kind;
    readonly resource: Resource;
    readonly path: string;
    readonly apiVersion: string;
    /** RBAC's name of the resource, with its API group. */
    readonly rbacName: string;
    readonly apiGroup: string;
    readonly objects: Map<string, any>;
    readonly watches: Set<http.ServerResponse>;
    readonly bookmarkWatches: Set<http.ServerResponse>;
}

export interface FakeKubernetes {
    readonly url: string;
    /** A kubeconfig file pointing at this server, for KUBECONFIG. */
    readonly kubeconfig: string;
    readonly requests: ApiRequest[];
    /** Changes a pod or a Job (added, modified or deleted) and tells the open watches of its kind. */
    emit(type: HistoryEvent["type"], object: any): void;
    /** Changes a pod or Job (modified by default) without any watch hearing of it, and forgets history: the next resume gets 410 Gone. */
    changeWhileCompacted(object: any, type?: HistoryEvent["type"]): void;
    /** Closes every open watch connection, as an API server restart or a load balancer would; gracefully: after what was sent. */
    dropWatches(gracefully?: boolean): void;
    /**
     * Sends a BOOKMARK to the watches that asked for bookmarks, with a resource version moved on by
     * changes elsewhere in the cluster (as the API server's is); returns it.
     */
    bookmark(): string;
    /** While true, the watcher's account may not list or watch pods (or Jobs): 403, as RBAC answers. */
    forbid(forbidden: boolean, resource?: Resource): void;
    /** Resolves with the first recorded request (past or future) that matches, once. */
    waitForRequest(matches: (request: ApiRequest) => boolean): Promise<ApiRequest>;
    setLog(pod: string, text: string): void;
    close(): Promise<void>;
}

export const TOKEN = "fake-service-account-token";

export interface FakeKubernetesOptions {
    /** The token the kubeconfig gives the client (default the one the server accepts). */
    readonly clientToken?: string;
    /** Serve HTTPS with this certificate, which the kubeconfig does not trust unless `trusted`. */
    readonly tls?: { readonly key: string; readonly cert: string; readonly trusted?: boolean };
}

/**
 * A self-signed certificate for 127.0.0.1, for the TLS failure (loopback only). Made now, valid for
 * a day from this machine's clock, so that no committed certificate expires or starts in the future.
 */
export function untrustedCertificate(): { key: string; cert: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-kube-tls-"));
    try {
        const [keyFile, certFile] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1 fake Kubernetes API (test only)", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyFile, "-out", certFile], { stdio: "ignore" });
        return { key: fs.readFileSync(keyFile, "utf8"), cert: fs.readFileSync(certFile, "utf8") };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, code, message }));
}

/** Pods and Jobs (by their `kind`) the API has from the start. */
export async function startFakeKubernetes(namespace: string, initialObjects: any[], options: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
    let resourceVersion = 100;
    let compactedBefore = 0;
    const collection = (kind: Kind, resource: Resource, apiVersion: string, apiGroup: string): Collection => ({
        kind, resource, apiVersion, apiGroup, rbacName: apiGroup ? `${resource}.${apiGroup}` : resource,
        path: `/${apiGroup ? `apis/${apiVersion}` : `api/${apiVersion}`}/namespaces/${namespace}/${resource}`,
        objects: new Map(), watches: new Set(), bookmarkWatches: new Set(),
    });
    const collections: Record<Kind, Collection> = { Pod: collection("Pod", "pods", "v1", ""), Job: collection("Job", "jobs", "batch/v1", "batch") };
    const ofObject = (object: any) => collections[(object.kind ?? "Pod") as Kind];
    const history: (HistoryEvent & { readonly kind: Kind })[] = [];
    const requests: ApiRequest[] = [];
    const waiters: { matches: (request: ApiRequest) => boolean; resolve: (request: ApiRequest) => void }[] = [];
    const logs = new Map<string, string>();
    const podsPath = collections.Pod.path;
    const forbidden = new Set<Resource>();

    const stamp = (object: any) => {
        resourceVersion++;
        return { ...object, metadata: { ...object.metadata, namespace, resourceVersion: String(resourceVersion) } };
    };
    for (const object of initialObjects) {
        const stamped = stamp(object);
        ofObject(stamped).objects.set(stamped.metadata.name, stamped);
    }

    const record = (request: ApiRequest) => {
        requests.push(request);
        for (const waiter of [...waiters]) {
            if (waiter.matches(request)) {
                waiters.splice(waiters.indexOf(waiter), 1);
                waiter.resolve(request);
            }
        }
    };

    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const request = { path: url.pathname, query: url.searchParams, authorization: req.headers.authorization };
        const served = Object.values(collections).find((c) => c.path === url.pathname);
        const watching = url.searchParams.get("watch") === "true";
        if (req.headers.authorization !== `Bearer ${TOKEN}`) {
            status(res, 401, "Unauthorized", "Unauthorized");
        } else if (served && forbidden.has(served.resource)) {
            status(res, 403, "Forbidden", `${served.rbacName} is forbidden: User "system:serviceaccount:${namespace}:pod-watcher" cannot ${watching ? "watch" : "list"} resource "${served.resource}" in API group "${served.apiGroup}" in the namespace "${namespace}"`);
        } else if (served && watching) {
            const since = Number(url.searchParams.get("resourceVersion") || "0");
            res.writeHead(200, { "content-type": "application/json" });
            // The API server sends the headers at once; Node would hold them until the first event.
            res.flushHeaders();
            if (since < compactedBefore) {
                res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version" } })}\n`);
            } else {
                for (const event of history.filter((e) => e.kind === served.kind && e.resourceVersion > since)) {
                    res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
                }
                served.watches.add(res);
                if (url.searchParams.get("allowWatchBookmarks") === "true") {
                    served.bookmarkWatches.add(res);
                }
                res.on("close", () => {
                    served.watches.delete(res);
                    served.bookmarkWatches.delete(res);
                });
            }
        } else if (served) {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({
                kind: `${served.kind}List`, apiVersion: served.apiVersion, metadata: { resourceVersion: String(resourceVersion) }, items: [...served.objects.values()],
            }));
        } else if (url.pathname.startsWith(`${podsPath}/`) && url.pathname.endsWith("/log")) {
            const name = url.pathname.slice(podsPath.length + 1, -"/log".length);
            const text = logs.get(name);
            res.writeHead(text === undefined ? 404 : 200, { "content-type": "text/plain" });
            res.end(text ?? "");
        } else {
            res.writeHead(404, { "content-type": "application/json" });
            res.end(JSON.stringify({ kind: "Status", code: 404 }));
        }
        record(request);
    };
    const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handle) : http.createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;

    const kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-")), "config");
    fs.writeFileSync(kubeconfig, JSON.stringify({
        apiVersion: "v1", kind: "Config", "current-context": "fake",
        // http:// is accepted by client-node only with TLS verification off, which is moot without TLS;
        // with TLS, verification is on, against the server's own certificate or the system's CAs.
        clusters: [{
            name: "fake",
            cluster: !options.tls ? { server: url, "insecure-skip-tls-verify": true }
                : options.tls.trusted ? { server: url, "certificate-authority-data": Buffer.from(options.tls.cert).toString("base64") } : { server: url },
        }],
        users: [{ name: "watcher", user: { token: options.clientToken ?? TOKEN } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "watcher", namespace } }],
    }));

    const apply = (type: HistoryEvent["type"], object: any) => {
        const stamped = stamp(object);
        const { objects } = ofObject(stamped);
        if (type === "DELETED") {
            objects.delete(stamped.metadata.name);
        } else {
            objects.set(stamped.metadata.name, stamped);
        }
        return stamped;
    };
    const allWatches = () => Object.values(collections).flatMap((c) => [...c.watches]);

    return {
        url,
        kubeconfig,
        requests,
        emit(type, object) {
            const stamped = apply(type, object);
            const served = ofObject(stamped);
            history.push({ resourceVersion, type, object: stamped, kind: served.kind });
            for (const watch of served.watches) {
                watch.write(`${JSON.stringify({ type, object: stamped })}\n`);
            }
        },
        changeWhileCompacted(object, type = "MODIFIED") {
            apply(type, object);
            history.length = 0;
            compactedBefore = resourceVersion;
        },
        dropWatches(gracefully = false) {
            for (const watch of allWatches()) {
                if (gracefully) {
                    watch.end();
                } else {
                    watch.socket?.destroy();
                }
            }
            for (const served of Object.values(collections)) {
                served.watches.clear();
            }
        },
        bookmark() {
            resourceVersion++;
            for (const served of Object.values(collections)) {
                for (const watch of served.bookmarkWatches) {
                    watch.write(`${JSON.stringify({ type: "BOOKMARK", object: { kind: served.kind, apiVersion: served.apiVersion, metadata: { resourceVersion: String(resourceVersion) } } })}\n`);
                }
            }
            return String(resourceVersion);
        },
        forbid(value, resource = "pods") {
            if (value) {
                forbidden.add(resource);
            } else {
                forbidden.delete(resource);
            }
        },
        waitForRequest(matches) {
            const seen = requests.find(matches);
            return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ matches, resolve }));
        },
        setLog(pod, text) {
            logs.set(pod, text);
        },
        close: () => new Promise<void>((resolve) => {
            fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
            server.closeAllConnections();
            server.close(() => resolve());
        }),
    };
}

/** A PostgreSQL pod object as the API returns it. */
export function postgresPod(overrides: {
    name?: string; uid?: string; ready?: boolean; restarts?: number; waitingReason?: string;
    lastTerminated?: { reason: string; exitCode: number; finishedAt?: string }; labels?: Record<string, string>;
    /** lastTransitionTime of the Ready condition. */
    readyChangedAt?: string;
    createdAt?: string;
    /** Extra conditions, such as DisruptionTarget. */
    conditions?: { type: string; status: string; reason?: string }[];
} = {}): any {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            name: overrides.name ?? "postgres-6b9c-qwert", uid: overrides.uid ?? "uid-1", labels: overrides.labels ?? {},
            creationTimestamp: overrides.createdAt ?? ago(10 * MINUTE, STARTED_AT),
        },
        spec: { nodeName: "kind-worker" },
        status: {
            phase: "Running",
            podIP: "10.244.0.9",
            conditions: [
                { type: "Ready", status: overrides.ready === false ? "False" : "True", lastTransitionTime: overrides.readyChangedAt ?? ago(10 * MINUTE - 5_000, STARTED_AT) },
                ...(overrides.conditions ?? []),
            ],
            containerStatuses: [{
                name: "postgres",
                ready: overrides.ready !== false,
                restartCount: overrides.restarts ?? 0,
                state: overrides.waitingReason ? { waiting: { reason: overrides.waitingReason } } : { running: {} },
                lastState: overrides.lastTerminated ? { terminated: overrides.lastTerminated } : {},
            }],
        },
    };
}

/** A backup Job as the API returns it: running, or finished with the conditions the Job controller sets. */
export function backupJob(overrides: {
    name: string; labels: Record<string, string>; outcome?: "running" | "succeeded" | "failed";
    /** When it finished: completionTime, or the failure conditions' time. */
    finishedAt?: string;
    createdAt?: string;
}): any {
    const finishedAt = overrides.finishedAt ?? ago(0);
    const createdAt = overrides.createdAt ?? ago(2 * MINUTE, STARTED_AT);
    const conditions = overrides.outcome === "succeeded"
        ? [{ type: "SuccessCriteriaMet", status: "True", lastTransitionTime: finishedAt }, { type: "Complete", status: "True", lastTransitionTime: finishedAt }]
        : overrides.outcome === "failed" ? [
            { type: "FailureTarget", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", lastTransitionTime: finishedAt },
            { type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit", lastTransitionTime: finishedAt },
        ] : [];
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: overrides.name, uid: `uid-${overrides.name}`, labels: overrides.labels, creationTimestamp: createdAt },
        status: {
            startTime: createdAt,
            ...(overrides.outcome === "succeeded" ? { succeeded: 1, completionTime: finishedAt } : {}),
            ...(overrides.outcome === "failed" ? { failed: 2 } : {}),
            ...(overrides.outcome === "running" || overrides.outcome === undefined ? { active: 1 } : {}),
            conditions,
        },
    };
}

/**
 * A stand-in for the Kubernetes API on loopback, enough for a pod informer: list and watch of the
 * pods of a namespace (with resource versions, history replay, bookmarks, dropped watches and 410
 * Gone after compaction) and pod logs; bearer-token authentication (401), an RBAC switch (403) and,
 * optionally, TLS with a certificate the client does not trust. Every request is recorded.
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";

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

export interface FakeKubernetes {
    readonly url: string;
    /** A kubeconfig file pointing at this server, for KUBECONFIG. */
    readonly kubeconfig: string;
    readonly requests: ApiRequest[];
    /** Changes a pod (added, modified or deleted) and tells the open watches. */
    emit(type: HistoryEvent["type"], pod: any): void;
    /** Changes a pod (modified by default) without any watch hearing of it, and forgets history: the next resume gets 410 Gone. */
    changeWhileCompacted(pod: any, type?: HistoryEvent["type"]): void;
    /** Closes every open watch connection, as an API server restart or a load balancer would; gracefully: after what was sent. */
    dropWatches(gracefully?: boolean): void;
    /**
     * Sends a BOOKMARK to the watches that asked for bookmarks, with a resource version moved on by
     * changes elsewhere in the cluster (as the API server's is); returns it.
     */
    bookmark(): string;
    /** While true, the watcher's account may not list or watch pods: 403, as RBAC answers. */
    forbid(forbidden: boolean): void;
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

/** A self-signed certificate for 127.0.0.1, for the TLS failure (test fixture, loopback only). */
export function untrustedCertificate(): { key: string; cert: string } {
    const dir = path.join(__dirname, "tls");
    return { key: fs.readFileSync(path.join(dir, "loopback-test-only.key"), "utf8"), cert: fs.readFileSync(path.join(dir, "loopback-test-only.crt"), "utf8") };
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, code, message }));
}

export async function startFakeKubernetes(namespace: string, initialPods: any[], options: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
    let resourceVersion = 100;
    let compactedBefore = 0;
    const pods = new Map<string, any>();
    const history: HistoryEvent[] = [];
    const watches = new Set<http.ServerResponse>();
    const requests: ApiRequest[] = [];
    const waiters: { matches: (request: ApiRequest) => boolean; resolve: (request: ApiRequest) => void }[] = [];
    const logs = new Map<string, string>();
    const podsPath = `/api/v1/namespaces/${namespace}/pods`;
    const bookmarkWatches = new Set<http.ServerResponse>();
    let forbidden = false;

    const stamp = (pod: any) => {
        resourceVersion++;
        return { ...pod, metadata: { ...pod.metadata, namespace, resourceVersion: String(resourceVersion) } };
    };
    for (const pod of initialPods) {
        const stamped = stamp(pod);
        pods.set(stamped.metadata.name, stamped);
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
        if (req.headers.authorization !== `Bearer ${TOKEN}`) {
            status(res, 401, "Unauthorized", "Unauthorized");
        } else if (forbidden && url.pathname === podsPath) {
            const verb = url.searchParams.get("watch") === "true" ? "watch" : "list";
            status(res, 403, "Forbidden", `pods is forbidden: User "system:serviceaccount:${namespace}:pod-watcher" cannot ${verb} resource "pods" in API group "" in the namespace "${namespace}"`);
        } else if (url.pathname === podsPath && url.searchParams.get("watch") === "true") {
            const since = Number(url.searchParams.get("resourceVersion") || "0");
            res.writeHead(200, { "content-type": "application/json" });
            // The API server sends the headers at once; Node would hold them until the first event.
            res.flushHeaders();
            if (since < compactedBefore) {
                res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version" } })}\n`);
            } else {
                for (const event of history.filter((e) => e.resourceVersion > since)) {
                    res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
                }
                watches.add(res);
                if (url.searchParams.get("allowWatchBookmarks") === "true") {
                    bookmarkWatches.add(res);
                }
                res.on("close", () => {
                    watches.delete(res);
                    bookmarkWatches.delete(res);
                });
            }
        } else if (url.pathname === podsPath) {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: String(resourceVersion) }, items: [...pods.values()] }));
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

    const apply = (type: HistoryEvent["type"], pod: any) => {
        const stamped = stamp(pod);
        if (type === "DELETED") {
            pods.delete(stamped.metadata.name);
        } else {
            pods.set(stamped.metadata.name, stamped);
        }
        return stamped;
    };

    return {
        url,
        kubeconfig,
        requests,
        emit(type, pod) {
            const stamped = apply(type, pod);
            const event = { resourceVersion, type, object: stamped };
            history.push(event);
            for (const watch of watches) {
                watch.write(`${JSON.stringify({ type, object: stamped })}\n`);
            }
        },
        changeWhileCompacted(pod, type = "MODIFIED") {
            apply(type, pod);
            history.length = 0;
            compactedBefore = resourceVersion;
        },
        dropWatches(gracefully = false) {
            for (const watch of watches) {
                if (gracefully) {
                    watch.end();
                } else {
                    watch.socket?.destroy();
                }
            }
            watches.clear();
        },
        bookmark() {
            resourceVersion++;
            for (const watch of bookmarkWatches) {
                watch.write(`${JSON.stringify({ type: "BOOKMARK", object: { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(resourceVersion) } } })}\n`);
            }
            return String(resourceVersion);
        },
        forbid(value) {
            forbidden = value;
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
            creationTimestamp: overrides.createdAt ?? "2026-11-24T08:00:00Z",
        },
        spec: { nodeName: "kind-worker" },
        status: {
            phase: "Running",
            podIP: "10.244.0.9",
            conditions: [
                { type: "Ready", status: overrides.ready === false ? "False" : "True", lastTransitionTime: overrides.readyChangedAt ?? "2026-11-24T08:00:05Z" },
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

/**
 * A stand-in for the Kubernetes API on loopback, enough for a pod informer: list and watch of the
 * pods of a namespace (with resource versions, history replay, dropped watches and 410 Gone after
 * compaction) and pod logs. Every request is recorded.
 */
import * as fs from "fs";
import * as http from "http";
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
    /** Changes a pod without any watch hearing of it, and forgets history: the next resume gets 410 Gone. */
    changeWhileCompacted(pod: any): void;
    /** Closes every open watch connection, as an API server restart or a load balancer would. */
    dropWatches(): void;
    /** Resolves with the first recorded request (past or future) that matches, once. */
    waitForRequest(matches: (request: ApiRequest) => boolean): Promise<ApiRequest>;
    setLog(pod: string, text: string): void;
    close(): Promise<void>;
}

export const TOKEN = "fake-service-account-token";

export async function startFakeKubernetes(namespace: string, initialPods: any[]): Promise<FakeKubernetes> {
    let resourceVersion = 100;
    let compactedBefore = 0;
    const pods = new Map<string, any>();
    const history: HistoryEvent[] = [];
    const watches = new Set<http.ServerResponse>();
    const requests: ApiRequest[] = [];
    const waiters: { matches: (request: ApiRequest) => boolean; resolve: (request: ApiRequest) => void }[] = [];
    const logs = new Map<string, string>();
    const podsPath = `/api/v1/namespaces/${namespace}/pods`;

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

    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const request = { path: url.pathname, query: url.searchParams, authorization: req.headers.authorization };
        if (url.pathname === podsPath && url.searchParams.get("watch") === "true") {
            const since = Number(url.searchParams.get("resourceVersion") || "0");
            res.writeHead(200, { "content-type": "application/json" });
            if (since < compactedBefore) {
                res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410, message: "too old resource version" } })}\n`);
            } else {
                for (const event of history.filter((e) => e.resourceVersion > since)) {
                    res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
                }
                watches.add(res);
                res.on("close", () => watches.delete(res));
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
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;

    const kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-")), "config");
    fs.writeFileSync(kubeconfig, JSON.stringify({
        apiVersion: "v1", kind: "Config", "current-context": "fake",
        // http:// is accepted by client-node only with TLS verification off, which is moot without TLS.
        clusters: [{ name: "fake", cluster: { server: url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "watcher", user: { token: TOKEN } }],
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
        changeWhileCompacted(pod) {
            apply("MODIFIED", pod);
            history.length = 0;
            compactedBefore = resourceVersion;
        },
        dropWatches() {
            for (const watch of watches) {
                watch.socket?.destroy();
            }
            watches.clear();
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
    lastTerminated?: { reason: string; exitCode: number }; labels?: Record<string, string>;
} = {}): any {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: overrides.name ?? "postgres-6b9c-qwert", uid: overrides.uid ?? "uid-1", labels: overrides.labels ?? {} },
        spec: { nodeName: "kind-worker" },
        status: {
            phase: "Running",
            podIP: "10.244.0.9",
            conditions: [{ type: "Ready", status: overrides.ready === false ? "False" : "True" }],
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

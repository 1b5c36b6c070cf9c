/**
 * The tunnel against a loopback stand-in for the API server and the kubelet: it serves the Service
 * and pod reads and the port-forward WebSocket (channel framing as the kubelet's) to a TCP echo
 * server per pod. Real: client-node's PortForward, the tunnel's listener, choice and relaying.
 * Replaced: the API server and the kubelet (`npm run test:e2e` runs the tunnel on a real node).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { MINUTE, STARTED_AT } from "../testing/clock";
import { startTunnel, Tunnel } from "./tunnel";

// ws comes with client-node; the test speaks the kubelet's side of the protocol with it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { WebSocketServer } = require("ws") as { WebSocketServer: new (options: object) => any };

interface FakePod {
    readonly name: string;
    ready: boolean;
    /** What the pod's port answers: each chunk back, prefixed with the pod's name. */
    readonly echo: net.Server;
}

async function listen(server: net.Server): Promise<number> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as net.AddressInfo).port;
}

async function fakeCluster() {
    const pods: FakePod[] = [];
    const forwards: string[] = [];
    const api = http.createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://api");
        const json = (code: number, body: object) => {
            response.writeHead(code, { "content-type": "application/json" });
            response.end(JSON.stringify(body));
        };
        if (url.pathname === "/api/v1/namespaces/db/services/postgres") {
            return json(200, { kind: "Service", apiVersion: "v1", metadata: { name: "postgres" },
                spec: { selector: { app: "db" }, ports: [{ port: 5432, targetPort: "postgresql" }] } });
        }
        if (url.pathname === "/api/v1/namespaces/db/pods" && url.searchParams.get("labelSelector") === "app=db") {
            return json(200, { kind: "PodList", apiVersion: "v1", metadata: {}, items: pods.map((pod, index) => ({
                metadata: { name: pod.name, creationTimestamp: new Date(STARTED_AT + index * MINUTE).toISOString() },
                spec: { containers: [{ name: "postgres", ports: [{ name: "postgresql", containerPort: 5432 }] }] },
                status: { conditions: [{ type: "Ready", status: pod.ready ? "True" : "False" }] },
            })) });
        }
        json(404, { kind: "Status", apiVersion: "v1", status: "Failure", code: 404, reason: "NotFound", message: "not found" });
    });
    const sockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols: Set<string>) => (protocols.has("v4.channel.k8s.io") ? "v4.channel.k8s.io" : false) });
    api.on("upgrade", (request, socket, head) => {
        const url = new URL(request.url ?? "/", "http://api");
        const match = /^\/api\/v1\/namespaces\/db\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
        const pod = pods.find((candidate) => candidate.name === match?.[1]);
        if (!pod || url.searchParams.get("ports") !== "5432") {
            socket.destroy();
            return;
        }
        forwards.push(pod.name);
        sockets.handleUpgrade(request, socket, head, (ws: any) => {
            // As the kubelet: each channel's first frame is the port, little-endian.
            const port = Buffer.from([5432 & 0xff, 5432 >> 8]);
            ws.send(Buffer.concat([Buffer.from([0]), port]));
            ws.send(Buffer.concat([Buffer.from([1]), port]));
            const target = net.connect((pod.echo.address() as net.AddressInfo).port, "127.0.0.1");
            target.on("data", (data) => ws.send(Buffer.concat([Buffer.from([0]), data])));
            target.on("close", () => ws.close());
            ws.on("message", (data: Buffer) => {
                if (data[0] === 0) {
                    target.write(data.subarray(1));
                }
            });
            ws.on("close", () => target.destroy());
        });
    });
    const port = await listen(api);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "tunnel-test-"));
    const kubeconfig = path.join(directory, "kubeconfig");
    fs.writeFileSync(kubeconfig, ["apiVersion: v1", "kind: Config", "current-context: test",
        `clusters: [{name: test, cluster: {server: 'http://127.0.0.1:${port}'}}]`, "users: [{name: me, user: {}}]",
        "contexts: [{name: test, context: {cluster: test, user: me}}]", ""].join("\n"));
    const addPod = async (name: string, ready: boolean): Promise<FakePod> => {
        const echo = net.createServer((connection) => connection.on("data", (data) => connection.write(`${name}:${data}`)));
        await listen(echo);
        const pod = { name, ready, echo };
        pods.push(pod);
        return pod;
    };
    return {
        kubeconfig, forwards, pods, addPod,
        close: async () => {
            pods.forEach((pod) => pod.echo.close());
            sockets.clients.forEach((client: any) => client.terminate());
            api.closeAllConnections();
            await new Promise((resolve) => api.close(resolve));
            fs.rmSync(directory, { recursive: true, force: true });
        },
    };
}

/** Sends one line through the tunnel and resolves with the first answer. */
function roundTrip(port: number, text: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const client = net.connect(port, "127.0.0.1", () => client.write(text));
        client.once("data", (data) => {
            resolve(data.toString());
            client.destroy();
        });
        client.once("error", reject);
        client.once("close", () => reject(new Error("closed without an answer")));
    });
}

describe("the tunnel through the API server's port-forward", () => {
    let cluster: Awaited<ReturnType<typeof fakeCluster>>;
    let tunnel: Tunnel | undefined;
    const log: string[] = [];
    let onLog: (() => void) | undefined;
    const logged = async (pattern: RegExp) => {
        while (!log.some((line) => pattern.test(line))) {
            await new Promise<void>((resolve) => { onLog = resolve; });
        }
    };

    beforeEach(async () => {
        cluster = await fakeCluster();
        log.length = 0;
    });
    afterEach(async () => {
        await tunnel?.close();
        tunnel = undefined;
        await cluster.close();
    });

    const open = (podWaitSeconds = 30) => startTunnel({ cluster: { kubeconfig: cluster.kubeconfig }, namespace: "db", service: "postgres", port: 0,
        log: (line) => { log.push(line); onLog?.(); }, podWaitSeconds });

    it("listens on loopback only, and relays both ways to the Ready pod behind the Service", async () => {
        await cluster.addPod("db-1", true);
        tunnel = await open();
        const address = await new Promise<string>((resolve) => {
            const probe = net.connect(tunnel!.port, "127.0.0.1", () => {
                resolve(probe.remoteAddress as string);
                probe.destroy();
            });
        });
        assert.strictEqual(address, "127.0.0.1");
        assert.strictEqual(await roundTrip(tunnel.port, "hello"), "db-1:hello");
    });

    it("follows a replaced pod: each new connection goes to the pod that is Ready now", async () => {
        const first = await cluster.addPod("db-1", true);
        tunnel = await open();
        assert.strictEqual(await roundTrip(tunnel.port, "one"), "db-1:one");
        first.ready = false;
        await cluster.addPod("db-2", true);
        assert.strictEqual(await roundTrip(tunnel.port, "two"), "db-2:two");
        assert.deepStrictEqual(cluster.forwards, ["db-1", "db-2"]);
    });

    it("holds a connection made before any pod is Ready (a first up), and forwards it once one is", async () => {
        tunnel = await open();
        const answer = roundTrip(tunnel.port, "early");
        // The tunnel says it waits, then the pod comes: no timing guess, the log line is the event.
        await logged(/^waiting for a Ready pod: Service db\/postgres selects no pod/);
        await cluster.addPod("db-1", true);
        assert.strictEqual(await answer, "db-1:early");
    });

    it("closes a connection that waited past its bound, and says why", async () => {
        tunnel = await open(0);
        await assert.rejects(roundTrip(tunnel.port, "late"), /closed without an answer/);
        assert.ok(log.some((line) => /^closed a connection: no Ready pod behind Service db\/postgres after 0 s \(Service db\/postgres selects no pod/.test(line)), log.join("\n"));
    });

    it("refuses a port that is taken, with the code the scripts explain", async () => {
        const holder = net.createServer();
        const port = await listen(holder);
        try {
            await assert.rejects(startTunnel({ cluster: { kubeconfig: cluster.kubeconfig }, namespace: "db", service: "postgres", port, log: () => undefined }),
                (error: NodeJS.ErrnoException) => error.code === "EADDRINUSE");
        } finally {
            holder.close();
        }
    });
});

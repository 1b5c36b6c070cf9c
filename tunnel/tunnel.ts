/**
 * The tunnel: a listener on the deploying machine's loopback whose every connection is forwarded,
 * through the Kubernetes API server's port-forward (the credentials and context of the Kubernetes
 * provider), to the Ready pod behind the database's Service. Nothing is published: the Service stays
 * ClusterIP, and only this machine's own processes reach the listener.
 */
import type { CoreV1Api } from "@kubernetes/client-node" with { "resolution-mode": "import" };
import * as net from "net";
import { Writable } from "stream";
import type WebSocket from "isomorphic-ws" with { "resolution-mode": "import" };
import { TUNNEL_HOST } from "../config/route";
import { ClusterTarget, kubeConfigFor } from "../kube/clusterReader";
import { Backend, chooseBackend, labelSelector } from "./backend";

/** How long a connection waits for a Ready pod (a first `up`, a restart) before it is closed. */
export const POD_WAIT_SECONDS = 180;
const POD_POLL_MS = 1000;

export interface TunnelOptions {
    readonly cluster: ClusterTarget;
    readonly namespace: string;
    readonly service: string;
    /** The local port on TUNNEL_HOST; 0 picks a free one (tests). */
    readonly port: number;
    readonly log: (line: string) => void;
    readonly podWaitSeconds?: number;
}

export interface Tunnel {
    readonly port: number;
    /** Where the tunnel's connections go: the API server's address. */
    readonly server: string;
    close(): Promise<void>;
}

export async function startTunnel(options: TunnelOptions): Promise<Tunnel> {
    const { CoreV1Api: Api, PortForward } = await import("@kubernetes/client-node");
    const { config, endpoint } = await kubeConfigFor(options.cluster);
    const api: CoreV1Api = config.makeApiClient(Api);
    const serviceId = `${options.namespace}/${options.service}`;
    const waitMs = (options.podWaitSeconds ?? POD_WAIT_SECONDS) * 1000;
    const sockets = new Set<net.Socket>();

    const backend = async (): Promise<Backend> => {
        const service = await api.readNamespacedService({ name: options.service, namespace: options.namespace })
            .catch((error: { code?: number }) => (error?.code === 404 ? undefined : Promise.reject(error)));
        const selector = service?.spec?.selector;
        const pods = selector ? (await api.listNamespacedPod({ namespace: options.namespace, labelSelector: labelSelector(selector) })).items : [];
        return chooseBackend(serviceId, service, pods);
    };

    const forward = async (socket: net.Socket): Promise<void> => {
        const started = Date.now();
        let reported = "";
        let chosen: Backend;
        for (;;) {
            chosen = await backend().catch((error: Error) => ({ kind: "wait", reason: `the API server: ${error.message}` }) as const);
            if (chosen.kind === "pod" || socket.destroyed) {
                break;
            }
            if (chosen.reason !== reported) {
                options.log(`waiting for a Ready pod: ${chosen.reason}`);
                reported = chosen.reason;
            }
            if (Date.now() - started > waitMs) {
                options.log(`closed a connection: no Ready pod behind Service ${serviceId} after ${waitMs / 1000} s (${chosen.reason})`);
                socket.destroy();
                return;
            }
            await new Promise((resolve) => setTimeout(resolve, POD_POLL_MS));
        }
        if (chosen.kind !== "pod") {
            return;
        }
        const { pod, port } = chosen;
        // The error channel: text such as "… connect: connection refused" when the pod's port does not answer.
        const errors = new Writable({
            write(chunk: Buffer, _encoding, done) {
                // The channel's first frame is only its port number, passed on empty.
                if (chunk.length > 0) {
                    options.log(`pod ${pod}: ${chunk.toString("utf8").trim()}`);
                    socket.destroy();
                }
                done();
            },
        });
        let ws: WebSocket;
        try {
            ws = await new PortForward(config).portForward(options.namespace, pod, [port], socket, errors, socket) as WebSocket;
        } catch (error) {
            options.log(`could not open the port-forward to pod ${options.namespace}/${pod}: ${(error as Error).message}`);
            socket.destroy();
            return;
        }
        ws.on("close", () => socket.end());
        ws.on("error", (error: Error) => {
            options.log(`port-forward to pod ${pod}: ${error.message}`);
            socket.destroy();
        });
        if (socket.destroyed) {
            ws.close();
            return;
        }
        socket.on("close", () => ws.close());
        socket.resume();
    };

    const listener = net.createServer((socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => undefined);
        // Nothing is read until the pod's end is open.
        socket.pause();
        forward(socket).catch((error: Error) => {
            options.log(`closed a connection: ${error.message}`);
            socket.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(options.port, TUNNEL_HOST, () => resolve());
    });
    return {
        port: (listener.address() as net.AddressInfo).port,
        server: endpoint.server,
        close: () => new Promise<void>((resolve) => {
            sockets.forEach((socket) => socket.destroy());
            listener.close(() => resolve());
        }),
    };
}

/**
 * Reaching the database in a pod the way a user does, through the API server's port-forward, and
 * across pod replacements: a port-forward dies with the pod it forwards to, so a local listener
 * starts `kubectl port-forward` to whichever pod of a selector is Ready, and starts it again for the
 * next pod. Also a plain TCP relay, for the fake SendGrid on loopback to be reached from the pods.
 */
import { ChildProcess, spawn } from "child_process";
import * as net from "net";
import type { KubeApi } from "../kubeApi";
import { until } from "../processes";

export interface PodForward {
    readonly port: number;
    /** How many port-forward processes were started (one per pod reached). */
    readonly started: () => number;
    close(): Promise<void>;
}

interface Forward { readonly pod: string; readonly child: ChildProcess; readonly port: Promise<number> }

const readyPod = async (api: KubeApi, namespace: string, selector: string): Promise<string | undefined> => {
    const pods = (await api.get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
    return pods.find((pod: any) => !pod.metadata.deletionTimestamp &&
        pod.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"))?.metadata.name;
};

export async function startPodForward(kubectl: string, kubeconfig: string, api: KubeApi, namespace: string, selector: string,
    targetPort: number, log: (line: string) => void): Promise<PodForward> {
    let current: Forward | undefined;
    let count = 0;
    const forwardTo = (pod: string): Forward => {
        const child = spawn(kubectl, ["--kubeconfig", kubeconfig, "-n", namespace, "port-forward", "--address", "127.0.0.1", `pod/${pod}`, `:${targetPort}`],
            { stdio: ["ignore", "pipe", "pipe"] });
        count++;
        const port = new Promise<number>((resolve, reject) => {
            let out = "";
            child.stdout?.on("data", (chunk) => {
                out += chunk;
                const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
                if (match) {
                    resolve(Number(match[1]));
                }
            });
            child.stderr?.on("data", (chunk) => log(`port-forward ${pod}: ${String(chunk).trim()}`));
            child.once("exit", (code) => reject(new Error(`kubectl port-forward to ${pod} exited ${code}: ${out}`)));
        });
        port.catch(() => undefined);
        return { pod, child, port };
    };
    const server = net.createServer((socket) => {
        socket.pause();
        (async () => {
            const pod = await until(`a Ready pod of ${selector} in ${namespace}`, 180_000, () => readyPod(api, namespace, selector), 500);
            if (!current || current.pod !== pod || current.child.exitCode !== null) {
                current?.child.kill();
                current = forwardTo(pod);
            }
            const port = await current.port;
            const upstream = net.connect({ host: "127.0.0.1", port });
            upstream.on("error", () => socket.destroy());
            socket.on("error", () => upstream.destroy());
            upstream.once("connect", () => {
                socket.pipe(upstream);
                upstream.pipe(socket);
                socket.resume();
            });
        })().catch((error) => {
            log(`forward: ${(error as Error).message}`);
            socket.destroy();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        started: () => count,
        close: async () => {
            current?.child.kill();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

/** Listens on host:0 and relays every connection to 127.0.0.1:targetPort. */
export async function startRelay(host: string, targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
        const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
        sockets.add(socket).add(upstream);
        socket.pipe(upstream);
        upstream.pipe(socket);
        const done = () => {
            socket.destroy();
            upstream.destroy();
            sockets.delete(socket);
            sockets.delete(upstream);
        };
        socket.on("error", done).on("close", done);
        upstream.on("error", done).on("close", done);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: async () => {
            sockets.forEach((socket) => socket.destroy());
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

/**
 * A plain TCP relay between the run's networks: the fake SendGrid on loopback reached from the pods
 * on the bridge, and the API server on the bridge reached on loopback by the deploying machine (as
 * kind's and minikube's are).
 */
import * as net from "net";

export interface Relay {
    readonly port: number;
    close(): Promise<void>;
}

/** Listens on listenHost:0 and relays every connection to the target. */
export async function startRelay(listenHost: string, target: { readonly host: string; readonly port: number }): Promise<Relay> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
        const upstream = net.connect(target);
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
    await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: async () => {
            sockets.forEach((socket) => socket.destroy());
            await new Promise<void>((resolve) => server.close(() => resolve()));
        },
    };
}

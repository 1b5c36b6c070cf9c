/**
 * A packet capture of the tunnel's traffic to the pod, read back as bytes: the proof that no
 * password crosses its sockets in clear. tcpdump (Debian's) records TCP on every interface, loopback
 * and the node's bridge included, to and from the given ports: the tunnel's listener, the API
 * server (and the loopback relay to it) and the kubelet's. (The engine's own gRPC to its plugins, on
 * loopback, carries the stack's secrets by design and is not the tunnel's.)
 */
import { spawn } from "child_process";
import * as fs from "fs";
import { until } from "../processes";

export interface Capture {
    /** Resolves once the recorded bytes hold `bytes` (the event that the capture has seen a packet); rejects after `timeoutMs`. */
    seen(bytes: Buffer, timeoutMs: number): Promise<void>;
    /** Stops the capture; resolves with every byte it recorded (headers included, which only adds bytes to search). */
    stop(): Promise<Buffer>;
}

export async function startCapture(file: string, ports: readonly number[]): Promise<Capture> {
    const filter = `tcp and (${ports.map((port) => `port ${port}`).join(" or ")})`;
    // --immediate-mode and -U: each packet reaches the file as it is seen, not when a buffer fills.
    const child = spawn("tcpdump", ["-i", "any", "--immediate-mode", "-U", "-n", "-s", "0", "-w", file, filter], { stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // tcpdump says "listening on any" once it records: the event to wait for.
    await new Promise<void>((resolve, reject) => {
        let said = "";
        child.stderr.on("data", (chunk) => {
            said += chunk;
            if (/listening on any/.test(said)) {
                resolve();
            }
        });
        child.once("error", (error) => reject(new Error(`tcpdump: ${error.message} (apt-get install -y tcpdump)`)));
        exited.then((code) => reject(new Error(`tcpdump exited ${code}: ${said.trim()}`)));
    });
    return {
        seen: async (bytes, timeoutMs) => {
            await until("the capture to record the packet", timeoutMs, async () => (fs.existsSync(file) && fs.readFileSync(file).includes(bytes) ? true : undefined), 100);
        },
        stop: async () => {
            child.kill("SIGINT");
            await exited;
            return fs.readFileSync(file);
        },
    };
}

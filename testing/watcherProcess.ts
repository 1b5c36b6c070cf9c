/** The pod watcher as a process: its output, waits on what it prints, and SIGTERM. */
import { spawn } from "child_process";
import * as path from "path";
import { clockEnv } from "./clock";
import type { Materialised } from "./kubelet";

export interface WatcherProcess {
    output(): string;
    /** Resolves once the watcher has printed a line matching `pattern`. */
    printed(pattern: RegExp): Promise<void>;
    running(): boolean;
    /** Sends SIGTERM (once) and resolves with the exit code. */
    stop(): Promise<number | null>;
}

/** Runs the container's command with exactly `env`, on this Node. */
export function spawnWatcher(pod: Materialised, command: readonly string[], env: Record<string, string>): WatcherProcess {
    const [program, ...args] = pod.hostCommand(command);
    const child = spawn(program === "node" ? process.execPath : program, args, {
        env: { ...env, ...clockEnv(), PATH: path.dirname(process.execPath) },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let waiters: (() => boolean)[] = [];
    const collect = (chunk: Buffer) => {
        output += chunk;
        waiters = waiters.filter((waiter) => !waiter());
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return {
        output: () => output,
        printed: (pattern) => new Promise<void>((resolve) => {
            const check = () => {
                if (pattern.test(output)) {
                    resolve();
                    return true;
                }
                return false;
            };
            if (!check()) {
                waiters.push(check);
            }
        }),
        running: () => child.exitCode === null && child.signalCode === null,
        stop: () => {
            if (child.exitCode === null && !child.killed) {
                child.kill("SIGTERM");
            }
            return exited;
        },
    };
}

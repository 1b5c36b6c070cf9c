/**
 * Child processes of the end-to-end run: each in its own process group, its output in a log file,
 * and stopped (SIGTERM, then SIGKILL) whatever happened to the run.
 */
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { freePort as loopbackPort } from "../testing/embeddedPostgres";

export interface Service {
    readonly name: string;
    readonly child: ChildProcess;
    readonly logFile: string;
    /** Resolves with the exit code (or signal name) once the process has ended. */
    readonly exited: Promise<number | string>;
}

const STOP_GRACE_MS = 10_000;

/** Ports handed out on 127.0.0.1 during this run, so the run can check that none is left listening. */
export const allocatedPorts: number[] = [];

export async function freePort(): Promise<number> {
    const port = await loopbackPort();
    allocatedPorts.push(port);
    return port;
}

/** True when something accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        socket.once("connect", () => { socket.destroy(); resolve(true); });
        socket.once("error", () => resolve(false));
    });
}

export class Processes {
    private readonly services: Service[] = [];

    constructor(private readonly logDir: string) {}

    start(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Service {
        const logFile = path.join(this.logDir, `${name}.log`);
        const out = fs.openSync(logFile, "a");
        const child = spawn(command, args, { env, stdio: ["ignore", out, out], detached: true });
        fs.closeSync(out);
        const exited = new Promise<number | string>((resolve) => {
            child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
            child.once("error", (error) => resolve(`spawn failed: ${error.message}`));
        });
        const service = { name, child, logFile, exited };
        this.services.push(service);
        return service;
    }

    /** The last lines of a service's log, for error messages. */
    tail(service: Service, lines = 15): string {
        const text = fs.existsSync(service.logFile) ? fs.readFileSync(service.logFile, "utf8") : "";
        return text.split("\n").slice(-lines).join("\n");
    }

    /** Stops every service, newest first; returns the names of those that needed SIGKILL. */
    async stopAll(): Promise<string[]> {
        const killed: string[] = [];
        for (const service of [...this.services].reverse()) {
            if (service.child.pid === undefined || service.child.exitCode !== null || service.child.signalCode !== null) {
                continue;
            }
            signalGroup(service.child.pid, "SIGTERM");
            const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_GRACE_MS).unref());
            if (await Promise.race([service.exited, timer]) === "timeout") {
                signalGroup(service.child.pid, "SIGKILL");
                killed.push(service.name);
                await service.exited;
            }
        }
        return killed;
    }

    /** Process ids of every service that is still running. */
    running(): string[] {
        return this.services.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.name);
    }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(-pid, signal);
    } catch {
        // Already gone.
    }
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile(command, args, { env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
            if (error) {
                reject(new Error(`${path.basename(command)} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`.trim()));
            } else {
                resolve(stdout);
            }
        });
        if (options.input !== undefined) {
            child.stdin?.end(options.input);
        }
    });
}

/** Splits a stream's chunks into lines: `push` each chunk, `end` once; `onLine` gets every line without its newline. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
    let partial = "";
    return {
        push(chunk) {
            const lines = (partial + chunk).split("\n");
            partial = lines.pop() as string;
            lines.forEach((line) => onLine(line.replace(/\r$/, "")));
        },
        end() {
            if (partial !== "") {
                onLine(partial);
                partial = "";
            }
        },
    };
}

/**
 * Runs a command to completion, handing each line of its stdout to `onLine` as it comes (a long
 * build shows its progress instead of nothing), and both streams to `logFile`. Resolves with the
 * stdout; rejects with the end of its stderr and where the whole is.
 */
export function runStreaming(command: string, args: readonly string[],
    options: { onLine: (line: string) => void; logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<string> {
    return new Promise((resolve, reject) => {
        const log = fs.openSync(options.logFile, "a");
        const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        const stderrTail: string[] = [];
        const out = lineSplitter((line) => {
            stdout += `${line}\n`;
            options.onLine(line);
        });
        const err = lineSplitter((line) => {
            stderrTail.push(line);
            stderrTail.splice(0, Math.max(0, stderrTail.length - 30));
        });
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
            fs.writeSync(log, chunk);
            out.push(chunk);
        });
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
            fs.writeSync(log, chunk);
            err.push(chunk);
        });
        let open = true;
        const closeLog = () => {
            if (open) {
                open = false;
                fs.closeSync(log);
            }
        };
        child.once("error", (error) => {
            closeLog();
            reject(new Error(`${path.basename(command)} could not start: ${error.message}`));
        });
        child.once("close", (code, signal) => {
            out.end();
            err.end();
            closeLog();
            if (code === 0) {
                resolve(stdout);
            } else {
                reject(new Error(`${path.basename(command)} ${args.map((arg) => path.basename(arg)).join(" ")} failed (${code ?? signal}); ` +
                    `its whole output is in ${options.logFile}, the end of its stderr:\n${stderrTail.join("\n")}`.trim()));
            }
        });
    });
}

/** Waits until `check` returns a value, polling every `intervalMs`, or fails after `timeoutMs` with `what`. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
        try {
            const value = await check();
            if (value !== undefined) {
                return value;
            }
        } catch (error) {
            lastError = error;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
}

/** Processes (pid and command line) whose command line mentions `fragment`, this process excluded. */
export function processesMentioning(fragment: string): string[] {
    const found: string[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) {
            continue;
        }
        try {
            const commandLine = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim();
            if (commandLine.includes(fragment)) {
                found.push(`${entry}: ${commandLine.slice(0, 160)}`);
            }
        } catch {
            // Ended while we looked.
        }
    }
    return found;
}

/**
 * Runs a command of a container the program declared, as the kubelet would: environment from
 * values, the Downward API, ConfigMaps and Secrets; ConfigMap volumes written out as files.
 * Container paths are mapped to temporary directories, and PID 1's stdout/stderr to a log file.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ProgramRun, RecordedResource } from "./program";

export interface PodFacts {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
}

export interface Materialised {
    readonly env: Record<string, string>;
    /** Container path → host path. */
    readonly mounts: Record<string, string>;
    /** Where the container's log (PID 1's stdout and stderr) goes. */
    readonly logFile: string;
    /** Rewrites container paths in a command to their host paths. */
    hostCommand(command: readonly string[]): string[];
    /** Runs an exec probe (or any command) of the container as the kubelet would; resolves with its exit code. */
    probe(command: readonly string[]): Promise<number | null>;
    cleanup(): void;
}

function byName(run: ProgramRun, type: string, name: string): RecordedResource {
    const found = run.ofType(type).find((resource) => (resource.inputs.metadata?.name ?? `${resource.name}-0a1b2c3d`) === name);
    if (!found) {
        throw new Error(`no ${type} named ${name}`);
    }
    return found;
}

export function materialise(run: ProgramRun, deployment: RecordedResource, containerName: string, pod: PodFacts): Materialised {
    const podSpec = deployment.inputs.spec.template.spec;
    const container = podSpec.containers.find((c: any) => c.name === containerName);
    if (!container) {
        throw new Error(`no container ${containerName}`);
    }
    const fields: Record<string, string> = {
        "metadata.name": pod.name,
        "metadata.namespace": deployment.inputs.metadata.namespace,
        "spec.nodeName": pod.node,
        "status.podIP": pod.ip,
    };
    const env: Record<string, string> = {};
    for (const source of container.envFrom ?? []) {
        Object.assign(env, byName(run, "kubernetes:core/v1:ConfigMap", source.configMapRef.name).inputs.data);
    }
    for (const variable of container.env ?? []) {
        if (variable.value !== undefined) {
            env[variable.name] = variable.value;
        } else if (variable.valueFrom?.fieldRef) {
            env[variable.name] = fields[variable.valueFrom.fieldRef.fieldPath];
        } else if (variable.valueFrom?.secretKeyRef) {
            const secret = byName(run, "kubernetes:core/v1:Secret", variable.valueFrom.secretKeyRef.name).inputs;
            env[variable.name] = secret.stringData[variable.valueFrom.secretKeyRef.key];
        } else {
            throw new Error(`env ${variable.name}: unsupported source`);
        }
    }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `pod-${containerName}-`));
    const mounts: Record<string, string> = {};
    for (const mount of container.volumeMounts ?? []) {
        const volume = podSpec.volumes.find((v: any) => v.name === mount.name);
        const hostPath = path.join(root, mount.name);
        fs.mkdirSync(hostPath);
        if (volume.configMap) {
            const configMap = byName(run, "kubernetes:core/v1:ConfigMap", volume.configMap.name).inputs;
            const files: [string, Buffer][] = [
                ...Object.entries(configMap.data ?? {}).map(([file, text]) => [file, Buffer.from(text as string, "utf8")] as [string, Buffer]),
                ...Object.entries(configMap.binaryData ?? {}).map(([file, base64]) => [file, Buffer.from(base64 as string, "base64")] as [string, Buffer]),
            ];
            for (const [file, content] of files) {
                fs.writeFileSync(path.join(hostPath, file), content, { mode: volume.configMap.defaultMode ?? 0o644 });
            }
        }
        mounts[mount.mountPath] = hostPath;
    }
    const logFile = path.join(root, "container.log");
    fs.writeFileSync(logFile, "");
    const rewrite = (part: string) => Object.entries({ ...mounts, "/proc/1/fd/1": logFile, "/proc/1/fd/2": logFile })
        .reduce((text, [from, to]) => text.split(from).join(to), part);
    return {
        // Paths in values (HEALTH_DIR) point where the mounts are.
        env: Object.fromEntries(Object.entries(env).map(([name, value]) => [name, rewrite(value)])),
        mounts,
        logFile,
        hostCommand: (command) => command.map(rewrite),
        probe: async (command) => (await runCommand(command.map(rewrite), {})).code,
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
    };
}

export interface Exit {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs a command with exactly the given environment, plus a PATH whose `node` is this Node. */
export function runCommand(command: readonly string[], env: Record<string, string>): Promise<Exit> {
    return new Promise((resolve, reject) => {
        const child = spawn(command[0], command.slice(1), {
            env: { ...env, PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => { stdout += chunk; });
        child.stderr.on("data", (chunk) => { stderr += chunk; });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

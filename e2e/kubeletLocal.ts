/**
 * Runs one container of a live Deployment as a local process, the way the kubelet would prepare
 * it: environment from values, the Downward API, ConfigMaps and Secrets read from the API server;
 * ConfigMap volumes written out as files and emptyDirs as directories, with container paths in the
 * command mapped to them. The process is the real bundle on the real Node.js; only the container
 * boundary (image, uid, namespaces) is not reproduced here.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { containerEnv, PodFacts } from "../testing/kubelet";
import type { KubeApi } from "./kubeApi";

export interface LocalContainer {
    readonly child: ChildProcess;
    /** Everything the process printed so far. */
    output(): string;
    /** Resolves once the output satisfies `test`. */
    waitForOutput(test: (output: string) => boolean, what: string, timeoutMs: number): Promise<void>;
    stop(): Promise<number | string>;
}

/** The container's environment from the ConfigMaps and Secrets of its namespace, as the kubelet reads them. */
async function resolveEnv(api: KubeApi, namespace: string, container: any, pod: PodFacts): Promise<Record<string, string>> {
    const byName = async (kind: "configmaps" | "secrets", decode: (value: string) => string) => new Map<string, Record<string, string>>(
        (await api.get(`/api/v1/namespaces/${namespace}/${kind}`)).items.map((item: any) => [item.metadata.name,
            Object.fromEntries(Object.entries(item.data ?? {}).map(([key, value]) => [key, decode(String(value))]))]));
    const configMaps = await byName("configmaps", (value) => value);
    const secrets = await byName("secrets", (value) => Buffer.from(value, "base64").toString());
    const fields = { "metadata.name": pod.name, "metadata.namespace": namespace, "spec.nodeName": pod.node, "status.podIP": pod.ip };
    return containerEnv(container, fields, {
        configMap: (name) => configMaps.get(name) ?? {},
        secret: (name) => secrets.get(name) ?? {},
    });
}

export async function runContainer(api: KubeApi, deployment: any, containerName: string, pod: PodFacts, dir: string,
    extraEnv: Record<string, string>): Promise<LocalContainer> {
    const namespace = deployment.metadata.namespace;
    const spec = deployment.spec.template.spec;
    const container = spec.containers.find((c: any) => c.name === containerName);
    if (!container) {
        throw new Error(`the Deployment ${deployment.metadata.name} has no container ${containerName}`);
    }
    const mounts: [string, string][] = [];
    for (const mount of container.volumeMounts ?? []) {
        const volume = spec.volumes.find((v: any) => v.name === mount.name);
        const hostDir = path.join(dir, mount.name);
        fs.mkdirSync(hostDir, { recursive: true });
        if (volume.configMap) {
            const object = await api.get(`/api/v1/namespaces/${namespace}/configmaps/${volume.configMap.name}`);
            for (const [key, value] of Object.entries(object.data ?? {})) {
                fs.writeFileSync(path.join(hostDir, key), String(value));
            }
            for (const [key, value] of Object.entries(object.binaryData ?? {})) {
                fs.writeFileSync(path.join(hostDir, key), Buffer.from(String(value), "base64"));
            }
        }
        mounts.push([mount.mountPath, hostDir]);
    }
    // Longest container path first, so nested mounts map to their own directories.
    mounts.sort(([a], [b]) => b.length - a.length);
    const toHost = (text: string) => mounts.reduce((value, [from, to]) => value.split(from).join(to), text);
    const [command, ...args] = [...(container.command ?? []), ...(container.args ?? [])].map(toHost);
    const env = Object.fromEntries(Object.entries(await resolveEnv(api, namespace, container, pod)).map(([key, value]) => [key, toHost(value)]));

    const child = spawn(command === "node" ? process.execPath : command, args, {
        env: { ...env, ...extraEnv, PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` },
        stdio: ["ignore", "pipe", "pipe"],
        cwd: dir,
    });
    let output = "";
    const waiters = new Set<() => void>();
    const collect = (chunk: Buffer) => {
        output += chunk;
        waiters.forEach((waiter) => waiter());
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
    return {
        child,
        output: () => output,
        waitForOutput: (test, what, timeoutMs) => new Promise((resolve, reject) => {
            const check = () => {
                if (test(output)) {
                    waiters.delete(check);
                    clearTimeout(timer);
                    resolve();
                }
            };
            const timer = setTimeout(() => {
                waiters.delete(check);
                reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; output:\n${output.slice(-2000)}`));
            }, timeoutMs);
            waiters.add(check);
            check();
        }),
        stop: async () => {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGTERM");
            }
            return exited;
        },
    };
}

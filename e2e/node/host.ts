/**
 * What the node changes on the host, seen from outside: a snapshot of the network links, routes,
 * nftables tables, iptables rules, mounts, network namespaces, cgroups and well-known runtime
 * directories, taken before the node starts and compared after its cleanup. Anything new that is
 * still there is a leftover, and the run fails on it.
 */
import { execFile } from "child_process";
import * as fs from "fs";

export interface HostState {
    readonly links: string[];
    readonly routes: string[];
    readonly nftTables: string[];
    readonly iptables: string[];
    readonly mounts: string[];
    readonly paths: string[];
    readonly ipForward: string;
}

/** Directories that containerd, the kubelet and the CNI plugins use whatever they are told. */
export const FIXED_PATHS = ["/run/containerd", "/var/lib/kubelet", "/var/lib/cni", "/run/netns", "/var/run/netns", "/var/log/containers", "/var/log/pods",
    "/etc/cni", "/opt/cni", "/var/lib/containerd", "/run/flannel", "/var/lib/calico"];

function output(command: string, args: string[]): Promise<string> {
    return new Promise((resolve) => {
        execFile(command, args, { maxBuffer: 32 * 1024 * 1024 }, (error, stdout) => resolve(error ? "" : stdout));
    });
}

function lines(text: string): string[] {
    return text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
}

/** Entries of the fixed paths (one level deep), so a file added inside an existing directory counts too. */
function pathEntries(): string[] {
    const found: string[] = [];
    for (const dir of FIXED_PATHS) {
        if (!fs.existsSync(dir)) {
            continue;
        }
        found.push(dir);
        try {
            for (const entry of fs.readdirSync(dir)) {
                found.push(`${dir}/${entry}`);
            }
        } catch {
            // Not a directory.
        }
    }
    return found;
}

/** iptables-save output as "iptables TABLE LINE" (counters and comments dropped: they change by themselves). */
export function iptablesLines(command: string, text: string): string[] {
    let table = "";
    const found: string[] = [];
    for (const line of lines(text)) {
        if (line.startsWith("*")) {
            table = line.slice(1);
        } else if (line.startsWith(":") || line.startsWith("-A")) {
            found.push(`${command} ${table} ${line.replace(/\[\d+:\d+\]/g, "").trim()}`);
        }
    }
    return found;
}

export async function hostState(): Promise<HostState> {
    const [links, routes, nft, iptables, ip6tables] = await Promise.all([
        output("ip", ["-o", "link", "show"]),
        output("ip", ["route", "show", "table", "all"]),
        output("nft", ["list", "tables"]),
        output("iptables-save", []),
        output("ip6tables-save", []),
    ]);
    return {
        links: lines(links).map((line) => line.split(":")[1].trim().split("@")[0]),
        routes: lines(routes),
        nftTables: lines(nft),
        iptables: [...iptablesLines("iptables", iptables), ...iptablesLines("ip6tables", ip6tables)],
        mounts: lines(fs.readFileSync("/proc/self/mountinfo", "utf8")).map((line) => line.split(" ")[4]),
        paths: pathEntries(),
        ipForward: fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim(),
    };
}

/** What `after` has that `before` had not, as readable lines ("mount /x", "link veth1", ...). */
export function leftovers(before: HostState, after: HostState): string[] {
    const added = (kind: string, a: readonly string[], b: readonly string[]) => {
        const had = new Set(a);
        return b.filter((item) => !had.has(item)).map((item) => `${kind} ${item}`);
    };
    return [
        ...added("link", before.links, after.links),
        ...added("route", before.routes, after.routes),
        ...added("nft", before.nftTables, after.nftTables),
        ...added("iptables", before.iptables, after.iptables),
        ...added("mount", before.mounts, after.mounts),
        ...added("path", before.paths, after.paths),
        ...(before.ipForward === after.ipForward ? [] : [`sysctl net.ipv4.ip_forward ${before.ipForward} -> ${after.ipForward}`]),
    ];
}

/**
 * The grammars of single values: image references, addresses and CIDRs, host names, Kubernetes
 * quantities, Kubernetes and PostgreSQL names, lists. Pure functions, no defaults and no keys: a
 * check returns what it expected when the value does not fit, undefined when it does.
 */

/** How much of a bad value a message quotes. */
export const QUOTE_LENGTH = 40;

/** A value as a message quotes it: JSON-escaped, cut after QUOTE_LENGTH characters with its full length said. */
export function quote(value: string): string {
    const characters = Array.from(value);
    if (characters.length <= QUOTE_LENGTH) {
        return JSON.stringify(value);
    }
    return `${JSON.stringify(characters.slice(0, QUOTE_LENGTH).join("")).slice(0, -1)}…" (${characters.length} characters)`;
}

// ---------------------------------------------------------------------------------------------
// Image references, as the container runtime parses them (github.com/distribution/reference).

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
/** The digest algorithms registries use, with the length of their hex encoding. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };
/** The reference grammar's limit on the name (registry and repository). */
export const IMAGE_NAME_MAX = 255;

export interface ImageReference {
    /** Registry host[:port]; undefined: Docker Hub. */
    readonly domain?: string;
    /** Repository path, such as library/postgres or postgres. */
    readonly path: string;
    readonly tag?: string;
    readonly digest?: string;
}

/** A reference split into its parts, or what was expected instead. */
export function parseImageReference(reference: string): ImageReference | { readonly problem: string } {
    const expected = "an image reference such as postgres:18.1 or registry.example.com:5000/team/postgres:18.1";
    if (reference === "") {
        return { problem: `${expected}; it is empty` };
    }
    if (/\s/.test(reference)) {
        return { problem: `${expected}; it contains white space` };
    }
    const at = reference.indexOf("@");
    const nameAndTag = at < 0 ? reference : reference.slice(0, at);
    const digest = at < 0 ? undefined : reference.slice(at + 1);
    if (digest !== undefined) {
        const parts = DIGEST.exec(digest);
        if (!parts) {
            return { problem: `${expected}; its digest is not algorithm:hex (such as sha256: and 64 hex digits)` };
        }
        const [, algorithm, hex] = parts;
        const length = DIGEST_HEX_LENGTH[algorithm];
        if (length === undefined) {
            return { problem: `a digest of sha256 (64 hex digits) or sha512 (128 hex digits); the algorithm is ${quote(algorithm)}` };
        }
        if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
            return { problem: `a ${algorithm} digest of ${length} lower-case hex digits; it has ${hex.length}${/[A-F]/.test(hex) ? ", some upper case" : ""}` };
        }
    }
    const slash = nameAndTag.lastIndexOf("/");
    const colon = nameAndTag.lastIndexOf(":");
    const tag = colon > slash ? nameAndTag.slice(colon + 1) : undefined;
    const name = colon > slash ? nameAndTag.slice(0, colon) : nameAndTag;
    if (tag !== undefined && !TAG.test(tag)) {
        return { problem: "a tag of letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 characters" };
    }
    if (name.length > IMAGE_NAME_MAX) {
        return { problem: `an image name (registry and repository) of at most ${IMAGE_NAME_MAX} characters; it has ${name.length}` };
    }
    const components = name.split("/");
    // As the runtime decides: the first component is a registry when it has a '.' or ':', is localhost, or has upper case.
    const first = components[0];
    const hasDomain = components.length > 1 && (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase());
    const domain = hasDomain ? components.shift() : undefined;
    if (domain !== undefined && !registryValid(domain)) {
        return { problem: `${expected}; its registry ${quote(domain)} is not a host name or address with an optional :port` };
    }
    for (const component of components) {
        if (component !== component.toLowerCase() && PATH_COMPONENT.test(component.toLowerCase())) {
            return { problem: "a repository name in lower case (the runtime refuses upper case)" };
        }
        if (!PATH_COMPONENT.test(component)) {
            return { problem: `${expected}; the repository part ${quote(component)} is not lower-case letters and digits separated by '.', '_', '__' or '-'` };
        }
    }
    return { domain, path: components.join("/"), tag, digest };
}

function registryValid(domain: string): boolean {
    const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(domain);
    if (bracketed) {
        return ipv6Groups(bracketed[1]) !== undefined && (bracketed[2] === undefined || Number(bracketed[2]) <= 65535);
    }
    const [host, port, ...rest] = domain.split(":");
    return rest.length === 0 && host.split(".").every((label) => DOMAIN_COMPONENT.test(label)) &&
        (port === undefined || (/^\d{1,5}$/.test(port) && Number(port) <= 65535));
}

/** The major version a tag starts with: 18 for 18.1-bookworm, 18 or 18beta3; undefined for alpine, lts, latest. */
export function tagMajor(tag: string): number | undefined {
    const major = /^(\d+)(?:$|[.-]|beta\d|rc\d)/.exec(tag);
    return major ? Number(major[1]) : undefined;
}

/**
 * An image whose version is pinned: a digest, or a tag that starts with the product's major version
 * (at least `minMajor`). A tag such as `alpine`, `lts` or `latest` moves to each new major release.
 */
export function pinnedImageProblem(reference: string, product: string, minMajor: number, example: string,
    why: string): string | undefined {
    const parsed = parseImageReference(reference);
    if ("problem" in parsed) {
        return parsed.problem;
    }
    if (parsed.tag === undefined) {
        return parsed.digest ? undefined : `an image with a pinned tag or digest (for example ${example}); it has no tag`;
    }
    if (parsed.tag === "latest") {
        return `an image with a pinned tag or digest (for example ${example}), not latest`;
    }
    const major = tagMajor(parsed.tag);
    if (major === undefined) {
        return `a tag that starts with the ${product} major version (for example ${example}) or a digest; ` +
            `the tag ${quote(parsed.tag)} moves to each new major release`;
    }
    if (major < minMajor) {
        return `${product} ${minMajor} or later (${why})`;
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Addresses, CIDRs and host names.

/** The four octets of a dotted-quad IPv4 address; undefined for anything else (leading zeros too: they read as octal elsewhere). */
export function ipv4Octets(text: string): number[] | undefined {
    const parts = text.split(".");
    if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255)) {
        return undefined;
    }
    return parts.map(Number);
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 text forms, without zone); undefined for anything else. */
export function ipv6Groups(text: string): number[] | undefined {
    if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.split("::").length > 2) {
        return undefined;
    }
    const groupsOf = (part: string): number[] | undefined => {
        if (part === "") {
            return [];
        }
        const items = part.split(":");
        const groups: number[] = [];
        for (const [index, item] of items.entries()) {
            if (index === items.length - 1 && item.includes(".")) {
                const octets = ipv4Octets(item);
                if (!octets) {
                    return undefined;
                }
                groups.push((octets[0] << 8) | octets[1], (octets[2] << 8) | octets[3]);
            } else if (/^[0-9A-Fa-f]{1,4}$/.test(item)) {
                groups.push(parseInt(item, 16));
            } else {
                return undefined;
            }
        }
        return groups;
    };
    const [head, tail] = text.split("::");
    const before = groupsOf(head);
    const after = tail === undefined ? [] : groupsOf(tail);
    if (!before || !after) {
        return undefined;
    }
    if (tail === undefined) {
        return before.length === 8 ? before : undefined;
    }
    const missing = 8 - before.length - after.length;
    // "::" stands for at least one group of zeros.
    return missing >= 1 ? [...before, ...new Array(missing).fill(0), ...after] : undefined;
}

/** RFC 5952 text of an IPv6 address: lower case, no leading zeros, the longest run of zero groups as "::". */
export function formatIpv6(groups: readonly number[]): string {
    let bestStart = -1;
    let bestLength = 1;
    for (let start = 0; start < 8; start++) {
        let length = 0;
        while (start + length < 8 && groups[start + length] === 0) {
            length++;
        }
        if (length > bestLength) {
            bestStart = start;
            bestLength = length;
        }
    }
    const hex = groups.map((group) => group.toString(16));
    if (bestStart < 0) {
        return hex.join(":");
    }
    return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * What is wrong with a CIDR, undefined when it is one: an IPv4 or IPv6 network address and a prefix
 * length, with every bit after the prefix zero. A set host bit is refused rather than silently dropped:
 * 192.168.1.10/24 admits all of 192.168.1.0/24, which is rarely what was meant.
 */
export function cidrProblem(cidr: string): string | undefined {
    const slash = cidr.indexOf("/");
    const address = cidr.slice(0, slash);
    const prefixText = cidr.slice(slash + 1);
    if (slash < 0 || !/^(0|[1-9]\d{0,2})$/.test(prefixText)) {
        return `${quote(cidr)} is not address/prefix-length`;
    }
    const prefix = Number(prefixText);
    const octets = ipv4Octets(address);
    const groups = octets ? undefined : ipv6Groups(address);
    if (!octets && !groups) {
        return `${quote(cidr)} does not start with an IPv4 or IPv6 address`;
    }
    const width = octets ? 8 : 16;
    const words = octets ?? (groups as number[]);
    if (prefix > words.length * width) {
        return `${quote(cidr)} has a prefix longer than ${words.length * width} bits`;
    }
    const network = words.map((word, index) => {
        const kept = Math.min(width, Math.max(0, prefix - index * width));
        return kept === 0 ? 0 : word & (((1 << kept) - 1) << (width - kept));
    });
    if (network.some((word, index) => word !== words[index])) {
        const text = octets ? network.join(".") : formatIpv6(network);
        return `${quote(cidr)} has host bits set: the network is ${text}/${prefix}, one address is ${address}/${words.length * width}`;
    }
    return undefined;
}

/**
 * A host name by RFC 1123: dot-separated labels of letters, digits and '-', each at most 63
 * characters, at most 253 in all; the last label not all digits (so 300.1.1.1 is no name either).
 */
export function hostNameValid(name: string): boolean {
    const labels = (name.endsWith(".") ? name.slice(0, -1) : name).split(".");
    return name.length <= 253 && labels.every((label) => /^[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?$/.test(label)) &&
        !/^\d+$/.test(labels[labels.length - 1]);
}

/** A host a client connects to: a host name, an IPv4 address or a bare IPv6 address; what was expected otherwise. */
export function hostProblem(host: string): string | undefined {
    if (ipv4Octets(host) || ipv6Groups(host) || hostNameValid(host)) {
        return undefined;
    }
    if (/^\[.*\]$/.test(host) && ipv6Groups(host.slice(1, -1))) {
        return `an IPv6 address without brackets, such as ${host.slice(1, -1)}`;
    }
    return "a host name (letters, digits, '-' and '.'), an IPv4 address such as 127.0.0.1 or an IPv6 address such as ::1";
}

// ---------------------------------------------------------------------------------------------
// Kubernetes quantities.

/** CPU: whole or decimal cores, or millicores. */
export const CPU = /^(\d+(\.\d+)?|\d+m)$/;
/** Bytes: a number with an optional binary or decimal suffix. */
export const BYTES = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

const QUANTITY_SUFFIXES: Record<string, bigint> = {
    "": 1n, k: 10n ** 3n, M: 10n ** 6n, G: 10n ** 9n, T: 10n ** 12n, P: 10n ** 15n, E: 10n ** 18n,
    Ki: 2n ** 10n, Mi: 2n ** 20n, Gi: 2n ** 30n, Ti: 2n ** 40n, Pi: 2n ** 50n, Ei: 2n ** 60n,
};

/** A quantity that CPU or BYTES accepts, as an exact fraction, so that 0.5Gi and 512Mi compare equal. */
function quantityFraction(quantity: string): [bigint, bigint] {
    const [, whole, fraction = "", suffix] = /^(\d+)(?:\.(\d+))?([A-Za-z]*)$/.exec(quantity)!;
    const milli = suffix === "m";
    return [BigInt(whole + fraction) * (milli ? 1n : QUANTITY_SUFFIXES[suffix]), 10n ** BigInt(fraction.length) * (milli ? 1000n : 1n)];
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b` (both quantities of the same grammar). */
export function compareQuantities(a: string, b: string): number {
    const [an, ad] = quantityFraction(a);
    const [bn, bd] = quantityFraction(b);
    const left = an * bd;
    const right = bn * ad;
    return left < right ? -1 : left > right ? 1 : 0;
}

/** Inclusive bounds of a quantity. */
export interface QuantityBounds {
    readonly min: string;
    readonly max: string;
    /** Why the bounds are where they are, for the message. */
    readonly why?: string;
}

/**
 * What is wrong with a memory or storage quantity, undefined when it is within `bounds`. A lower-case
 * m means thousandths in Kubernetes, so 512m is half a byte: that mistake gets its own hint.
 */
export function bytesProblem(quantity: string, bounds: QuantityBounds, form: string): string | undefined {
    if (/^\d+(\.\d+)?m$/.test(quantity)) {
        return `${form}; ${quote(quantity)} is ${quantity.slice(0, -1)} thousandths of a byte (did you mean ${quantity.slice(0, -1)}Mi?)`;
    }
    if (!BYTES.test(quantity)) {
        return `${form} (in bytes, with a suffix Ki, Mi, Gi, Ti or k, M, G, T)`;
    }
    return boundsProblem(quantity, bounds, form);
}

/** What is wrong with a CPU quantity, undefined when it is within `bounds`. */
export function cpuProblem(quantity: string, bounds: QuantityBounds, form: string): string | undefined {
    if (!CPU.test(quantity)) {
        return `${form} (cores, or millicores with m)`;
    }
    if (/\.\d{4,}$/.test(quantity)) {
        return "a CPU quantity of whole millicores (at most three decimals)";
    }
    return boundsProblem(quantity, bounds, form);
}

function boundsProblem(quantity: string, bounds: QuantityBounds, form: string): string | undefined {
    if (compareQuantities(quantity, bounds.min) < 0 || compareQuantities(quantity, bounds.max) > 0) {
        return `${form.replace(/ such as .*/, "")} from ${bounds.min} to ${bounds.max}${bounds.why ? ` (${bounds.why})` : ""}`;
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Names.

/** A Kubernetes namespace or other DNS-label name. */
export function dnsLabelValid(name: string): boolean {
    return name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/** A StorageClass or other DNS-subdomain name. */
export function dnsSubdomainValid(name: string): boolean {
    return name.length <= 253 && name.split(".").every((label) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(label));
}

/** PostgreSQL identifiers the stack creates: a letter or '_', then letters, digits or '_'; 63 bytes at most. */
export const PG_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Names PostgreSQL itself refuses or gives a meaning of its own. Compared as PostgreSQL compares
 * the quoted names the stack creates, case and all: "PUBLIC" is a role like any other, "public" is not.
 */
export const RESERVED_NAMES = {
    /** PUBLIC is every role and NONE is refused by CREATE ROLE; CURRENT_USER and its siblings stand for another role in SQL. */
    role: ["public", "none", "current_user", "current_role", "session_user"],
    /** The templates every CREATE DATABASE copies: a seed there lands in each future database. */
    database: ["template0", "template1"],
    /** Schemas of every database: taking one over gives the app role write access to it, and deletion drops it. */
    schema: ["public", "information_schema"],
} as const;

/** Roles, schemas (pg_catalog, pg_toast, ...) and predefined roles (pg_read_all_data, ...) starting with pg_ are PostgreSQL's. */
export const RESERVED_PREFIX = "pg_";

// ---------------------------------------------------------------------------------------------
// Secrets and lists.

/** A SendGrid API key as SendGrid issues it: SG., a 22-character key id, '.', a 43-character secret. */
export const SENDGRID_API_KEY = /^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

/** A list given as a JSON array (structured config) or as comma-separated text; undefined when it is neither. */
export function parseList(raw: string): string[] | undefined {
    if (raw.trim().startsWith("[")) {
        try {
            const parsed: unknown = JSON.parse(raw);
            return Array.isArray(parsed) && parsed.every((item) => typeof item === "string")
                ? parsed.map((item) => item.trim()).filter((item) => item !== "")
                : undefined;
        } catch {
            return undefined;
        }
    }
    return raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
    const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
                rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
            }
        }
    }
    return rows[a.length][b.length];
}

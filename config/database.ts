/** The database and its pod: namespace, superuser, database, image, volume, Service, resources, who may connect. */
import { DEFAULTS, LIMITS, SERVICE_TYPES } from "./defaults";
import { Reader } from "./reader";
import type { ComputeResources, Settings } from "./types";
import {
    bytesProblem, cidrProblem, compareQuantities, cpuProblem, dnsLabelValid, dnsSubdomainValid, PG_IDENTIFIER,
    pinnedImageProblem, quote, RESERVED_NAMES, RESERVED_PREFIX,
} from "./values";

export type DatabaseSettings = Pick<Settings, "namespace" | "createNamespace" | "dbUser" | "dbName" | "image" | "storageSize" |
    "storageClass" | "serviceType" | "nodePort" | "resources" | "allowedCidrs" | "allowedNamespaces" | "allowDataDeletion">;

/**
 * Namespaces the stack must not share. Their pods would all be admitted to port 5432 by the
 * NetworkPolicy's own-namespace rule, and the stack would set no Pod Security label on them.
 */
export const RESERVED_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"] as const;

const NAMESPACE_FORM = "a Kubernetes namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

function namespaceProblem(name: string): string | undefined {
    if (!dnsLabelValid(name)) {
        return NAMESPACE_FORM;
    }
    if ((RESERVED_NAMESPACES as readonly string[]).includes(name) || name.startsWith("kube-")) {
        return `a namespace of the stack's own, not ${name}: Kubernetes reserves default and kube-*, and every pod there ` +
            "could reach PostgreSQL through the NetworkPolicy's own-namespace rule, without the restricted Pod Security label";
    }
    return undefined;
}

const ROLE_FORM = "a PostgreSQL role name: a letter or '_' then letters, digits or '_', at most 63 characters";

/** A role the stack creates: dbUser, appUser, backupUser. */
export function roleProblem(name: string): string | undefined {
    if (!PG_IDENTIFIER.test(name)) {
        return ROLE_FORM;
    }
    if (name.startsWith(RESERVED_PREFIX)) {
        return `a role name that does not start with ${RESERVED_PREFIX}, which PostgreSQL reserves`;
    }
    if ((RESERVED_NAMES.role as readonly string[]).includes(name)) {
        return `a role name other than ${name}, which PostgreSQL reserves (PUBLIC and NONE are refused; CURRENT_USER, ` +
            "CURRENT_ROLE and SESSION_USER stand for another role in SQL)";
    }
    return undefined;
}

function databaseProblem(name: string): string | undefined {
    if (!PG_IDENTIFIER.test(name)) {
        return "a database name: a letter or '_' then letters, digits or '_', at most 63 characters";
    }
    if ((RESERVED_NAMES.database as readonly string[]).includes(name)) {
        return `a database other than ${name}: CREATE DATABASE copies the templates, so the seed would land in every future database`;
    }
    return undefined;
}

export const STORAGE_FORM = "a Kubernetes storage quantity such as 1Gi or 500Mi";

function storageClassProblem(name: string): string | undefined {
    return dnsSubdomainValid(name) ? undefined : "a StorageClass name (lower-case DNS subdomain, at most 253 characters)";
}

export function readStorageClass(reader: Reader, key: string): string | undefined {
    const name = reader.get(key);
    return name === undefined ? undefined : reader.text(key, name, storageClassProblem);
}

export function readDatabase(reader: Reader): DatabaseSettings & { readonly serviceTypeValid: boolean } {
    const namespace = reader.text("namespace", DEFAULTS.namespace, namespaceProblem);
    const dbUser = reader.text("dbUser", DEFAULTS.dbUser, roleProblem);
    const dbName = reader.required("dbName", "the database name, for example WORKSHOP", databaseProblem);
    reader.secret("dbPassword", "the PostgreSQL superuser password", { required: true, check: passwordProblem });

    const image = reader.text("image", DEFAULTS.image, (value) => pinnedImageProblem(value, "PostgreSQL", LIMITS.postgresMajor,
        DEFAULTS.image, "the postStart hook reads the password with psql's \\getenv"));
    const storageSize = reader.text("storageSize", DEFAULTS.storageSize,
        (value) => bytesProblem(value, LIMITS.storageSize, STORAGE_FORM));
    const storageClass = readStorageClass(reader, "storageClass");

    const serviceType = reader.oneOf("serviceType", SERVICE_TYPES, DEFAULTS.serviceType);
    const nodePort = reader.integer("nodePort", "a NodePort");
    if (nodePort !== undefined && serviceType === "ClusterIP") {
        reader.bad("nodePort", "no nodePort when serviceType is ClusterIP", String(nodePort));
    }

    const resources = readResources(reader);
    const allowedCidrs = reader.list("allowedCidrs", "a list of CIDRs such as [\"10.0.0.0/8\"] or 10.0.0.0/8,fd00::/8", cidrProblem);
    if (serviceType === "LoadBalancer" && allowedCidrs.length === 0) {
        // The load balancer's source ranges come from this list; an empty one would publish the superuser to every address.
        reader.say("allowedCidrs", "missing; a LoadBalancer admits only the networks listed here (its loadBalancerSourceRanges), " +
            "so list those that may connect, for example your own address as [\"203.0.113.7/32\"], or [\"0.0.0.0/0\"] to publish it " +
            "to every IPv4 address on purpose. Without serviceType LoadBalancer the deploying machine reaches PostgreSQL through the tunnel " +
            "and nothing is published");
    }
    const allowedNamespaces = reader.list("allowedNamespaces", "a list of namespace names such as [\"apps\"] or apps,jobs",
        (item) => (dnsLabelValid(item) ? undefined : `${quote(item)} is not a namespace name`));

    return {
        namespace,
        createNamespace: reader.flag("createNamespace", DEFAULTS.createNamespace),
        dbUser,
        dbName: dbName ?? "",
        image,
        storageSize,
        storageClass,
        serviceType: serviceType ?? DEFAULTS.serviceType,
        serviceTypeValid: serviceType !== undefined,
        nodePort,
        resources,
        allowedCidrs,
        allowedNamespaces,
        allowDataDeletion: reader.flag("allowDataDeletion", DEFAULTS.allowDataDeletion),
    };
}

/**
 * A password the hooks can pass on: not blank, one line. The image's initdb reads the first line of
 * --pwfile only, so a line break would leave the volume with another password than the Secret's.
 */
export function passwordProblem(value: string): string | undefined {
    // eslint-disable-next-line no-control-regex
    return /[\u0000-\u001f\u007f]/.test(value) ? "a password of one line, without control characters" : undefined;
}

function readResources(reader: Reader): ComputeResources {
    const cpu = (key: "cpuRequest" | "cpuLimit", fallback: string, example: string) =>
        reader.text(key, fallback, (value) => cpuProblem(value, LIMITS[key], `a CPU quantity such as ${example}`));
    const memory = (key: "memoryRequest" | "memoryLimit", fallback: string, example: string) =>
        reader.text(key, fallback, (value) => bytesProblem(value, LIMITS[key], `a memory quantity such as ${example}`));
    const resources: ComputeResources = {
        requests: {
            cpu: cpu("cpuRequest", DEFAULTS.resources.requests.cpu, "250m or 1"),
            memory: memory("memoryRequest", DEFAULTS.resources.requests.memory, "256Mi"),
        },
        limits: {
            cpu: cpu("cpuLimit", DEFAULTS.resources.limits.cpu, "500m or 2"),
            memory: memory("memoryLimit", DEFAULTS.resources.limits.memory, "512Mi or 1Gi"),
        },
    };
    // Kubernetes refuses a container whose request exceeds its limit.
    const { requests, limits } = resources;
    if (!cpuProblem(requests.cpu, LIMITS.cpuRequest, "") && !cpuProblem(limits.cpu, LIMITS.cpuLimit, "") &&
        compareQuantities(requests.cpu, limits.cpu) > 0) {
        reader.bad("cpuRequest", `a CPU quantity no greater than cpuLimit (${limits.cpu})`, requests.cpu);
    }
    if (!bytesProblem(requests.memory, LIMITS.memoryRequest, "") && !bytesProblem(limits.memory, LIMITS.memoryLimit, "") &&
        compareQuantities(requests.memory, limits.memory) > 0) {
        reader.bad("memoryRequest", `a memory quantity no greater than memoryLimit (${limits.memory})`, requests.memory);
    }
    return resources;
}

/**
 * A minimal Kubernetes API client for the end-to-end checks: JSON over HTTPS with the
 * credentials of a kubeconfig (client certificate or bearer token), nothing cached.
 */
import * as fs from "fs";
import * as https from "https";
import * as yaml from "js-yaml";

export interface Credentials {
    readonly server: string;
    readonly ca?: Buffer;
    readonly insecure?: boolean;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly token?: string;
}

export class ApiError extends Error {
    constructor(readonly status: number, readonly body: any, what: string) {
        super(`${what}: HTTP ${status} ${body?.message ?? JSON.stringify(body)}`);
    }
}

const fromData = (data?: string) => (data ? Buffer.from(data, "base64") : undefined);
const fromFile = (file?: string) => (file ? fs.readFileSync(file) : undefined);

/** The current context's cluster and user from a kubeconfig file (inline data or file paths). */
export function readKubeconfig(file: string): Credentials {
    const config = yaml.load(fs.readFileSync(file, "utf8")) as any;
    const context = config.contexts.find((c: any) => c.name === config["current-context"])?.context ?? config.contexts[0].context;
    const cluster = config.clusters.find((c: any) => c.name === context.cluster).cluster;
    const user = config.users.find((u: any) => u.name === context.user)?.user ?? {};
    return {
        server: cluster.server,
        ca: fromData(cluster["certificate-authority-data"]) ?? fromFile(cluster["certificate-authority"]),
        insecure: cluster["insecure-skip-tls-verify"] === true,
        cert: fromData(user["client-certificate-data"]) ?? fromFile(user["client-certificate"]),
        key: fromData(user["client-key-data"]) ?? fromFile(user["client-key"]),
        token: user.token,
    };
}

export function writeKubeconfig(file: string, credentials: Credentials): void {
    const b64 = (data?: Buffer) => data?.toString("base64");
    const config = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "e2e", cluster: { server: credentials.server, "certificate-authority-data": b64(credentials.ca) } }],
        users: [{
            name: "e2e",
            user: credentials.token
                ? { token: credentials.token }
                : { "client-certificate-data": b64(credentials.cert), "client-key-data": b64(credentials.key) },
        }],
        contexts: [{ name: "e2e", context: { cluster: "e2e", user: "e2e" } }],
        "current-context": "e2e",
    };
    fs.writeFileSync(file, yaml.dump(config), { mode: 0o600 });
}

export class KubeApi {
    constructor(readonly credentials: Credentials) {}

    request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<any> {
        const url = new URL(path, this.credentials.server);
        const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
        return new Promise((resolve, reject) => {
            const request = https.request(url, {
                method,
                ca: this.credentials.ca,
                cert: this.credentials.cert,
                key: this.credentials.key,
                rejectUnauthorized: !this.credentials.insecure,
                headers: {
                    accept: "application/json",
                    ...(this.credentials.token ? { authorization: `Bearer ${this.credentials.token}` } : {}),
                    ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
                },
                timeout: 30_000,
            }, (response) => {
                const chunks: Buffer[] = [];
                response.on("data", (chunk) => chunks.push(chunk));
                response.on("end", () => {
                    const text = Buffer.concat(chunks).toString();
                    let parsed: any = text;
                    try {
                        parsed = text === "" ? undefined : JSON.parse(text);
                    } catch {
                        // Plain text (for example /readyz).
                    }
                    if ((response.statusCode ?? 0) >= 400) {
                        reject(new ApiError(response.statusCode ?? 0, parsed, `${method} ${path}`));
                    } else {
                        resolve(parsed);
                    }
                });
            });
            request.on("timeout", () => request.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
            request.on("error", reject);
            request.end(payload);
        });
    }

    get(path: string): Promise<any> {
        return this.request("GET", path);
    }

    /** The object, or undefined when the API answers 404. */
    async find(path: string): Promise<any | undefined> {
        try {
            return await this.get(path);
        } catch (error) {
            if (error instanceof ApiError && error.status === 404) {
                return undefined;
            }
            throw error;
        }
    }

    create(path: string, object: unknown): Promise<any> {
        return this.request("POST", path, object);
    }
}

/** The REST path of a kind's collection, namespaced or cluster-scoped, from its apiVersion and kind. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
    const lower = kind.toLowerCase();
    const plural = lower.endsWith("y") ? `${lower.slice(0, -1)}ies` : lower.endsWith("s") ? `${lower}es` : `${lower}s`;
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return `${base}${namespace ? `/namespaces/${namespace}` : ""}/${plural}`;
}

/** The REST path of one object. */
export function objectPath(apiVersion: string, kind: string, name: string, namespace?: string): string {
    return `${collectionPath(apiVersion, kind, namespace)}/${name}`;
}

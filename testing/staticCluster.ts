/**
 * A Kubernetes API on loopback (plain HTTP) that answers every request with one status, and a
 * kubeconfig for it: 404 is a cluster that holds nothing yet (a stack's first preview), 403 one
 * whose RBAC refuses the program's reads.
 */
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";

export interface StaticCluster {
    /** Path of a kubeconfig whose current context is this API. */
    readonly kubeconfig: string;
    /** "GET /api/v1/…" for every request, in order. */
    readonly requests: string[];
    close(): Promise<void>;
}

const REASONS: Record<number, string> = { 403: "Forbidden", 404: "NotFound" };

export async function staticCluster(code: 403 | 404): Promise<StaticCluster> {
    const requests: string[] = [];
    const server = http.createServer((request, response) => {
        requests.push(`${request.method} ${request.url}`);
        const parts = new URL(request.url ?? "/", "http://api").pathname.split("/");
        const [resource, name] = parts.length % 2 === 0 ? [parts[parts.length - 1], ""] : parts.slice(-2);
        const message = code === 404 ? `${resource} "${name}" not found`
            : `${resource} "${name}" is forbidden: User "system:anonymous" cannot get resource "${resource}"`;
        response.writeHead(code, { "content-type": "application/json" });
        response.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: REASONS[code], code, message }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "static-cluster-"));
    const kubeconfig = path.join(directory, "kubeconfig");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fs.writeFileSync(kubeconfig, [
        "apiVersion: v1", "kind: Config", "current-context: test",
        `clusters: [{name: test, cluster: {server: '${url}', insecure-skip-tls-verify: true}}]`,
        "users: [{name: nobody, user: {}}]",
        "contexts: [{name: test, context: {cluster: test, user: nobody}}]",
    ].join("\n"));
    return {
        kubeconfig,
        requests,
        close: async () => {
            await new Promise<void>((resolve) => server.close(() => resolve()));
            fs.rmSync(directory, { recursive: true, force: true });
        },
    };
}

import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { startFakeKubernetes, untrustedCertificate } from "../testing/fakeKubernetes";
import { kubeconfigProblem } from "./clusterProblems";
import { clusterReader, loadKubeconfig, useClusterReader } from "./clusterReader";

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

/** A kubeconfig with one cluster at `server` and one context, `current` its current context. */
function kubeconfigText(server: string, current: string, user: object = {}): string {
    return JSON.stringify({
        apiVersion: "v1", kind: "Config", "current-context": current,
        clusters: [{ name: "local", cluster: { server } }],
        users: [{ name: "me", user }],
        contexts: [{ name: "local", context: { cluster: "local", user: "me" } }],
    });
}

/** The refusal that the program's first read (the namespace's) stops with, given the stack's kubernetes:kubeconfig. */
async function readFailure(kubeconfig: string): Promise<string> {
    try {
        await (await clusterReader({ kubeconfig })).namespaceAnnotations("workshop");
    } catch (error) {
        assert.ok(pulumi.RunError.isInstance(error), `a refusal, printed without a stack trace: ${(error as Error).stack}`);
        assert.doesNotMatch((error as Error).message, /\n/, "one line");
        return (error as Error).message;
    }
    return assert.fail("the read fails");
}

/** How the runtime that `npm run preview` uses prints these: test/refusals.test.ts (a laptop with no kubeconfig among them). */
describe("the program's cluster reads against a real kubeconfig: the first error says what to do", function () {
    this.timeout(60_000);
    let dir = "";

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "cluster-reader-"));
        // The real reader: other test files of this worker may have left their stand-in in place.
        useClusterReader(undefined);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("no kubeconfig at all: names it, and kind and minikube, instead of client-node's http://localhost:8080 fallback", async () => {
        const { KubeConfig } = await import("@kubernetes/client-node");
        const { state } = loadKubeconfig(KubeConfig, {}, {}, dir);
        assert.match(kubeconfigProblem(state) ?? "", new RegExp(`^no kubeconfig: KUBECONFIG is not set and ${dir}/\\.kube/config does not exist, .*\`kind create cluster\` or \`minikube start\``));
    });

    it("reads KUBECONFIG as kubectl does: files that do not exist are skipped", async () => {
        const { KubeConfig } = await import("@kubernetes/client-node");
        const file = path.join(dir, "merged");
        fs.writeFileSync(file, kubeconfigText("https://127.0.0.1:6443", "local"));
        const { state } = loadKubeconfig(KubeConfig, {}, { KUBECONFIG: `${path.join(dir, "gone")}:${file}` }, dir);
        assert.strictEqual(kubeconfigProblem(state), undefined);
        assert.deepStrictEqual([state.currentContext, state.contextCluster], ["local", "local"]);
    });

    it("a kubeconfig path under ~ is read from the home directory", async () => {
        const { KubeConfig } = await import("@kubernetes/client-node");
        fs.writeFileSync(path.join(dir, "home-kubeconfig"), kubeconfigText("https://127.0.0.1:6443", "local"));
        const { state } = loadKubeconfig(KubeConfig, { kubeconfig: "~/home-kubeconfig" }, {}, dir);
        assert.strictEqual(kubeconfigProblem(state), undefined);
        assert.strictEqual(state.name, path.join(dir, "home-kubeconfig"));
    });

    it("the stack's kubernetes:kubeconfig names a file that does not exist", async () => {
        const missing = path.join(dir, "missing-kubeconfig");
        assert.match(await readFailure(missing), new RegExp(`^no kubeconfig: the stack's kubernetes:kubeconfig names ${missing}, which does not exist; `));
    });

    it("a current context that points nowhere", async () => {
        const file = path.join(dir, "nowhere");
        fs.writeFileSync(file, kubeconfigText("https://127.0.0.1:6443", "kind-deleted"));
        assert.strictEqual(await readFailure(file), `the current context "kind-deleted" of the kubeconfig ${file} is not defined in it (its contexts: local); ` +
            "switch with `kubectl config use-context local` (list them with `kubectl config get-contexts`)");
    });

    it("a loopback port with nothing listening (plain http, as kubectl allows): connection refused, not client-node's TLS rule", async () => {
        const file = path.join(dir, "refused");
        const server = `http://127.0.0.1:${await closedPort()}`;
        fs.writeFileSync(file, kubeconfigText(server, "local"));
        assert.match(await readFailure(file), new RegExp(`^cannot reach the cluster of context "local" at ${server}: connection refused: nothing listens there; is the cluster running\\? .*\`kubectl cluster-info\`$`));
    });

    it("a token the cluster refuses (401), and a certificate the kubeconfig does not trust (a recreated cluster)", async () => {
        const certificate = untrustedCertificate();
        const refusing = await startFakeKubernetes("workshop", [], { tls: { ...certificate, trusted: true }, clientToken: "expired" });
        const untrusted = await startFakeKubernetes("workshop", [], { tls: certificate });
        try {
            assert.match(await readFailure(refusing.kubeconfig), /^the cluster of context "fake" at https:\/\/127\.0\.0\.1:\d+ refused the credential of user "watcher" \(HTTP 401 Unauthorized\): it has expired or been revoked; log in again .*`kubectl auth whoami`$/);
            assert.match(await readFailure(untrusted.kubeconfig), /^the cluster of context "fake" at https:\/\/127\.0\.0\.1:\d+ did not prove itself with a certificate the kubeconfig trusts \(self-signed certificate\); was the cluster recreated\? /);
        } finally {
            await Promise.all([refusing.close(), untrusted.close()]);
        }
    });

    it("an exec credential plugin that fails: its own message and a new login", async () => {
        const file = path.join(dir, "exec");
        fs.writeFileSync(file, kubeconfigText(`http://127.0.0.1:${await closedPort()}`, "local", {
            exec: { apiVersion: "client.authentication.k8s.io/v1", command: process.execPath, args: ["-e", "console.error('the refresh token has expired'); process.exit(1)"] },
        }));
        assert.match(await readFailure(file), /^the credential plugin `.*node` of user "me" \(context "local"\) failed: the refresh token has expired; log in again or fetch a new kubeconfig .*`kubectl auth whoami`$/);
    });
});

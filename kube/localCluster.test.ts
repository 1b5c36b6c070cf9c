import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type * as KubernetesClient from "@kubernetes/client-node" with { "resolution-mode": "import" };
import { kubeconfigProblem } from "./clusterProblems";
import { loadKubeconfig } from "./clusterReader";
import { classifyCluster, KubeContextView, readKubeContext, useKubeContext } from "./localCluster";

const { KubeConfig } = require("@kubernetes/client-node") as typeof KubernetesClient;

describe("telling a local cluster from one others can reach", () => {
    const local: Record<string, KubeContextView> = {
        "kind on loopback": { context: "kind-kind", cluster: "kind-kind", server: "https://127.0.0.1:40123" },
        "any context on loopback": { context: "prod", server: "https://127.0.0.1:6443" },
        "localhost": { context: "x", server: "https://localhost:6443" },
        "a .localhost name": { context: "x", server: "https://api.cluster.localhost:6443" },
        "IPv6 loopback": { context: "x", server: "https://[::1]:6443" },
        "k3d on 0.0.0.0": { context: "k3d-dev", cluster: "k3d-dev", server: "https://0.0.0.0:39811" },
        "Docker Desktop": { context: "docker-desktop", cluster: "docker-desktop", server: "https://kubernetes.docker.internal:6443" },
        "minikube in a VM": { context: "minikube", cluster: "minikube", server: "https://192.168.49.2:8443" },
        "Rancher Desktop": { context: "rancher-desktop", server: "https://127.0.0.1:6443" },
        "OrbStack": { context: "orbstack", server: "https://127.0.0.1:26443" },
        "Colima on its VM's address": { context: "colima", server: "https://192.168.106.2:6443" },
        "the client's fallback without any kubeconfig": { context: "loaded-context", cluster: "cluster", server: "http://localhost:8080" },
    };
    for (const [name, view] of Object.entries(local)) {
        it(`local: ${name}`, () => {
            const verdict = classifyCluster(view);
            assert.strictEqual(verdict.local, true, verdict.description);
        });
    }

    const reachable: Record<string, [KubeContextView, RegExp]> = {
        "a cloud API server": [{ context: "gke_project_europe-west1_prod", server: "https://34.76.1.2" }, /API server 34\.76\.1\.2\): the API server is not on a loopback address, and the context is not/],
        "a cloud host name": [{ context: "arn:aws:eks:eu-west-1:1:cluster/prod", server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com" }, /not on a loopback address/],
        "a company cluster on a private address": [{ context: "office", server: "https://10.1.2.3:6443" }, /the context is not named like a local cluster's/],
        "a kind-like name on a public address": [{ context: "kind-prod", server: "https://203.0.113.7:6443" }, /nor on a private one, and the context is named like a local cluster's/],
        "minikube on a Tailscale address": [{ context: "minikube", server: "https://100.101.102.103:8443" }, /nor on a private one/],
        "a kind-like name on a public host name": [{ context: "kind-x", server: "https://kind.example.com:6443" }, /nor on a private one/],
        "in a pod": [{ context: "inClusterContext", server: "https://10.96.0.1:443" }, /not on a loopback address/],
        "no server": [{ context: "broken" }, /names no API server URL/],
        "an unreadable kubeconfig": [{ error: "ENOENT: no such file" }, /could not be read \(ENOENT: no such file\)/],
    };
    for (const [name, [view, description]] of Object.entries(reachable)) {
        it(`not local: ${name}`, () => {
            const verdict = classifyCluster(view);
            assert.strictEqual(verdict.local, false, verdict.description);
            assert.match(verdict.description, description);
        });
    }

    describe("reads the context the Kubernetes provider uses", () => {
        const KUBECONFIG = [
            "apiVersion: v1", "kind: Config", "current-context: kind-kind",
            "clusters:",
            "- name: kind-kind", "  cluster: {server: 'https://127.0.0.1:40123'}",
            "- name: prod", "  cluster: {server: 'https://34.76.1.2'}",
            "contexts:",
            "- name: kind-kind", "  context: {cluster: kind-kind, user: me}",
            "- name: prod", "  context: {cluster: prod, user: me}",
            "users:", "- name: me", "  user: {token: x}", "",
        ].join("\n");
        let file: string;
        before(() => {
            // A test of the whole program in the same worker may have left its stand-in.
            useKubeContext(undefined);
            file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "local-cluster-")), "config");
            fs.writeFileSync(file, KUBECONFIG);
        });
        after(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));

        it("its current context, from kubernetes:kubeconfig as a path or as contents", () => {
            const expected = { context: "kind-kind", cluster: "kind-kind", server: "https://127.0.0.1:40123" };
            assert.deepStrictEqual(readKubeContext({ kubeconfig: file }), expected);
            assert.deepStrictEqual(readKubeContext({ kubeconfig: KUBECONFIG }), expected);
        });

        it("kubernetes:context and kubernetes:cluster choose another", () => {
            assert.deepStrictEqual(readKubeContext({ kubeconfig: file, context: "prod" }), { context: "prod", cluster: "prod", server: "https://34.76.1.2" });
            assert.strictEqual(readKubeContext({ kubeconfig: file, cluster: "prod" }).server, "https://34.76.1.2");
        });

        it("says what it could not read, in the words of the cluster reads", () => {
            assert.match(readKubeContext({ kubeconfig: file, cluster: "nope" }).error ?? "", /kubernetes:cluster "nope" is not a cluster of the kubeconfig/);
            const missing = path.join(path.dirname(file), "missing");
            assert.strictEqual(readKubeContext({ kubeconfig: missing }).error, kubeconfigProblem(loadKubeconfig(KubeConfig, { kubeconfig: missing }).state));
            assert.strictEqual(classifyCluster(readKubeContext({ kubeconfig: file, context: "nope" })).local, false);
        });
    });
});

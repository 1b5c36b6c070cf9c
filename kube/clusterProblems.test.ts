import * as assert from "assert";
import { credentialProblem, Endpoint, kubeconfigProblem, KubeconfigState, Read, readProblem } from "./clusterProblems";

const KIND: Endpoint = { context: "kind-kind", server: "https://127.0.0.1:6443", user: "kind-kind" };
const GKE: Endpoint = { context: "gke_acme_europe-west1_prod", server: "https://34.0.0.1", user: "gke-user", plugin: "gke-gcloud-auth-plugin" };
const NAMESPACE: Read = { what: "namespace workshop", verb: "get", resource: "namespaces" };
const EVENTS: Read = { what: "the events of Service workshop/postgres", verb: "list", resource: "events", namespace: "workshop" };

/** A kubeconfig with these contexts (each naming the cluster of the same name) and current context. */
function kubeconfig(contexts: string[], current: string | undefined, extra: Partial<KubeconfigState> = {}): KubeconfigState {
    return { name: "/home/ada/.kube/config", contexts, clusters: contexts, currentContext: current, contextCluster: current, ...extra };
}

/** fetch's error for a socket error with this code, as undici throws it. */
function fetchFailed(code: string, message: string): Error {
    return Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(message), { code }) });
}

/** client-node's ApiException: the status in `code`, the API's Status object as the body. */
function apiError(code: number, message: string): Error {
    return Object.assign(new Error(`HTTP-Code: ${code}\nMessage: …\nHeaders: {"audit-id":"…"}`), { code, body: JSON.stringify({ kind: "Status", code, message }) });
}

interface Row {
    readonly what: string;
    readonly message: () => string | undefined;
    /** The whole line; undefined: no problem. */
    readonly expected?: RegExp;
}

const ROWS: Row[] = [
    // The kubeconfig, before any request.
    {
        what: "no kubeconfig at all (client-node would fall back to http://localhost:8080)",
        message: () => kubeconfigProblem({ name: "/home/ada/.kube/config", notFound: { looked: ["/home/ada/.kube/config"], by: "default" }, contexts: [], clusters: [] }),
        expected: /^no kubeconfig: KUBECONFIG is not set and \/home\/ada\/\.kube\/config does not exist, so there is no cluster to deploy to; start a local one with `kind create cluster` or `minikube start` .*; then check with `kubectl config current-context`$/,
    },
    {
        what: "KUBECONFIG names only files that do not exist",
        message: () => kubeconfigProblem({ name: "/tmp/a:/tmp/b", notFound: { looked: ["/tmp/a", "/tmp/b"], by: "KUBECONFIG" }, contexts: [], clusters: [] }),
        expected: /^no kubeconfig: KUBECONFIG names \/tmp\/a, \/tmp\/b, and none of them exists; point KUBECONFIG at an existing file or unset it .*`kind create cluster`/,
    },
    {
        what: "the stack's kubernetes:kubeconfig names a file that does not exist",
        message: () => kubeconfigProblem({ name: "/srv/kube.yaml", notFound: { looked: ["/srv/kube.yaml"], by: "kubernetes:kubeconfig" }, contexts: [], clusters: [] }),
        expected: /^no kubeconfig: the stack's kubernetes:kubeconfig names \/srv\/kube\.yaml, which does not exist; .*`npm run pulumi -- config rm kubernetes:kubeconfig`\)$/,
    },
    {
        what: "a kubeconfig that does not parse",
        message: () => kubeconfigProblem({ ...kubeconfig([], undefined), unreadable: "bad indentation of a mapping entry (3:5)\n\n 1 | apiVersion: v1\n" }),
        expected: /^the kubeconfig \/home\/ada\/\.kube\/config cannot be read: bad indentation of a mapping entry \(3:5\) 1 \| apiVersion: v1; fix or replace it \(`kubectl config view` .*\)$/,
    },
    {
        what: "a kubeconfig with no context (a cluster deleted with `kind delete cluster`)",
        message: () => kubeconfigProblem(kubeconfig([], "")),
        expected: /^the kubeconfig \/home\/ada\/\.kube\/config holds no context, so there is no cluster to deploy to; start a local one with `kind create cluster` or `minikube start`/,
    },
    {
        what: "contexts, but no current one",
        message: () => kubeconfigProblem(kubeconfig(["kind-kind"], undefined)),
        expected: /^the kubeconfig \/home\/ada\/\.kube\/config sets no current context \(its contexts: kind-kind\); choose one with `kubectl config use-context kind-kind` \(list them with `kubectl config get-contexts`\)$/,
    },
    {
        what: "current-context names a context that is gone",
        message: () => kubeconfigProblem(kubeconfig(["kind-kind", "minikube"], "kind-old")),
        expected: /^the current context "kind-old" of the kubeconfig \/home\/ada\/\.kube\/config is not defined in it \(its contexts: kind-kind, minikube\); switch with `kubectl config use-context <name>` \(list them with `kubectl config get-contexts`\)$/,
    },
    {
        what: "the stack's kubernetes:context names a context that is not there",
        message: () => kubeconfigProblem(kubeconfig(["minikube"], "minikube", { stackContext: "prod" })),
        expected: /^the stack's kubernetes:context "prod" is not a context of the kubeconfig \/home\/ada\/\.kube\/config \(its contexts: minikube\); set an existing one with `npm run pulumi -- config set kubernetes:context minikube`/,
    },
    {
        what: "the current context names a cluster that is gone",
        message: () => kubeconfigProblem({ ...kubeconfig(["kind-kind"], "kind-kind"), clusters: [], contextCluster: "kind-kind" }),
        expected: /^context "kind-kind" names cluster "kind-kind", which the kubeconfig \/home\/ada\/\.kube\/config does not define \(deleted with its cluster\?\); recreate the cluster \(`kind create cluster`, `minikube start`\) or switch to another context with `kubectl config use-context <name>`/,
    },
    {
        what: "the stack's kubernetes:cluster names a cluster that is not there",
        message: () => kubeconfigProblem(kubeconfig(["kind-kind"], "kind-kind", { stackCluster: "staging" })),
        expected: /^the stack's kubernetes:cluster "staging" is not a cluster of the kubeconfig .* set an existing one with `npm run pulumi -- config set kubernetes:cluster kind-kind` \(list them with `kubectl config get-clusters`\)$/,
    },
    { what: "a kubeconfig that names its cluster: no problem", message: () => kubeconfigProblem(kubeconfig(["kind-kind", "minikube"], "minikube")) },
    { what: "kubernetes:context picks an existing context without a current one: no problem", message: () => kubeconfigProblem(kubeconfig(["kind-kind"], undefined, { stackContext: "kind-kind", contextCluster: "kind-kind" })) },

    // The read, once the kubeconfig names a cluster.
    {
        what: "a cluster that is not running (connection refused)",
        message: () => readProblem(fetchFailed("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:6443"), NAMESPACE, KIND),
        expected: /^cannot reach the cluster of context "kind-kind" at https:\/\/127\.0\.0\.1:6443: connection refused: nothing listens there; is the cluster running\? Start it \(`minikube start`, `docker start kind-control-plane`\) or switch to another context .*then check with `kubectl cluster-info`$/,
    },
    {
        what: "a server whose name does not resolve (DNS)",
        message: () => readProblem(fetchFailed("ENOTFOUND", "getaddrinfo ENOTFOUND api.gone.example"), NAMESPACE, { ...KIND, server: "https://api.gone.example" }),
        expected: /^cannot reach the cluster of context "kind-kind" at https:\/\/api\.gone\.example: its host name is not known \(DNS\); .*`kubectl cluster-info`$/,
    },
    {
        what: "a server that never answers (timeout)",
        message: () => readProblem(fetchFailed("UND_ERR_CONNECT_TIMEOUT", "Connect Timeout Error"), NAMESPACE, GKE),
        expected: /^cannot reach the cluster of context "gke_acme_europe-west1_prod" at https:\/\/34\.0\.0\.1: no answer \(connection timed out\); .*`kubectl cluster-info`$/,
    },
    {
        what: "an expired credential (401)",
        message: () => readProblem(apiError(401, "Unauthorized"), NAMESPACE, GKE),
        expected: /^the cluster of context "gke_acme_europe-west1_prod" at https:\/\/34\.0\.0\.1 refused the credential of user "gke-user" \(HTTP 401 Unauthorized\): it has expired or been revoked; log in again \(`gcloud auth login`, .*\), then check with `kubectl auth whoami`$/,
    },
    {
        what: "a credential without the right (403, RBAC)",
        message: () => readProblem(apiError(403, "events is forbidden: User \"dev\" cannot list resource \"events\" in API group \"\" in the namespace \"workshop\""), EVENTS, KIND),
        expected: /^the cluster of context "kind-kind" at https:\/\/127\.0\.0\.1:6443 refused the program's read of the events of Service workshop\/postgres to user "kind-kind" \(HTTP 403: events is forbidden: User "dev" cannot list .*\); the program needs get on namespaces, persistentvolumeclaims and services and list on events: check with `kubectl auth can-i list events -n workshop`, or use a context with those rights \(`kubectl config get-contexts`\)$/,
    },
    {
        what: "a credential the cluster did not take (403 as system:anonymous)",
        message: () => readProblem(apiError(403, "namespaces \"workshop\" is forbidden: User \"system:anonymous\" cannot get resource \"namespaces\""), NAMESPACE, KIND),
        expected: /^the cluster of context "kind-kind" at https:\/\/127\.0\.0\.1:6443 took the program's read of namespace workshop as system:anonymous, so it accepted no credential of user "kind-kind" \(HTTP 403: .*\); log in again or fetch a new kubeconfig \(`kind export kubeconfig`, `minikube update-context`, .*\), then check with `kubectl auth whoami`$/,
    },
    {
        what: "a recreated cluster whose certificate the kubeconfig does not trust",
        message: () => readProblem(fetchFailed("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"), NAMESPACE, KIND),
        expected: /^the cluster of context "kind-kind" at https:\/\/127\.0\.0\.1:6443 did not prove itself with a certificate the kubeconfig trusts \(unable to verify the first certificate\); was the cluster recreated\? Fetch its kubeconfig again \(`kind export kubeconfig`, `minikube update-context`\)/,
    },
    {
        what: "any other failed read keeps the API's reason",
        message: () => readProblem(apiError(500, "etcdserver: request timed out"), NAMESPACE, KIND),
        expected: /^could not read namespace workshop from the cluster of context "kind-kind" at https:\/\/127\.0\.0\.1:6443: HTTP 500: etcdserver: request timed out; check the cluster with `kubectl get --raw \/readyz`$/,
    },

    // The credential, before the first read.
    {
        what: "an exec credential plugin that fails (a lapsed login)",
        message: () => credentialProblem(new Error("F1206 cred.go:145] print credential failed with error: Failed to retrieve access token:\n  You do not currently have an active account selected.\n"), GKE),
        expected: /^the credential plugin `gke-gcloud-auth-plugin` of user "gke-user" \(context "gke_acme_europe-west1_prod"\) failed: F1206 cred\.go:145\] print credential failed .* You do not currently have an active account selected\.; log in again \(`gcloud auth login`, .*\), then check with `kubectl auth whoami`$/,
    },
    {
        what: "an exec credential plugin that is not installed",
        message: () => credentialProblem(Object.assign(new Error("spawn aws ENOENT"), { code: "ENOENT", syscall: "spawn aws", path: "aws" }), { ...GKE, plugin: "aws" }),
        expected: /^the credential plugin `aws` of user "gke-user" \(context "gke_acme_europe-west1_prod"\) is not installed \(not found on PATH\); install it, or switch to another context \(`kubectl config get-contexts`, `kubectl config use-context <name>`\)$/,
    },
    {
        what: "a client certificate file that is gone (minikube delete)",
        message: () => credentialProblem(Object.assign(new Error("ENOENT: no such file or directory, open '/home/ada/.minikube/profiles/minikube/client.crt'"),
            { code: "ENOENT", syscall: "open", path: "/home/ada/.minikube/profiles/minikube/client.crt" }), { ...KIND, context: "minikube" }),
        expected: /^the kubeconfig's context "minikube" names \/home\/ada\/\.minikube\/profiles\/minikube\/client\.crt, which does not exist \(deleted with its cluster\?\); fetch the cluster's kubeconfig again \(`kind export kubeconfig`, `minikube update-context`\)/,
    },
];

describe("the first errors of the program's cluster reads: one line, the problem and the next command", () => {
    for (const row of ROWS) {
        it(row.what, () => {
            const message = row.message();
            if (row.expected === undefined) {
                assert.strictEqual(message, undefined);
                return;
            }
            assert.ok(message !== undefined, "a problem is found");
            assert.match(message, row.expected);
            assert.doesNotMatch(message, /\n/, "one line");
            assert.match(message, /`(kind|minikube|kubectl|npm run pulumi|gcloud|aws|az) [^`]+`/, "names the next command");
            assert.doesNotMatch(message, /HTTP protocol is not allowed|Headers:|audit-id/, "not the client's message");
        });
    }
});

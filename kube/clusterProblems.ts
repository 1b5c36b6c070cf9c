/**
 * The first errors a new machine meets when the program reads its cluster, each as one line that
 * names the problem and the next command: no kubeconfig, a context that points nowhere, a cluster
 * that does not answer, a credential it refuses. Pure: the kubeconfig's state or the error a read
 * threw goes in, the line comes out; kube/clusterReader.ts gathers the state and raises the line as
 * a refusal at preview, before anything is changed.
 */

/** What the kubeconfig the program reads says, as gathered by the reader. */
export interface KubeconfigState {
    /** The kubeconfig in words, for messages: a path, `KUBECONFIG (a:b)`, "the stack's kubernetes:kubeconfig". */
    readonly name: string;
    /** Nothing to read: where the reader looked, and which setting sent it there. */
    readonly notFound?: { readonly looked: readonly string[]; readonly by: "default" | "KUBECONFIG" | "kubernetes:kubeconfig" };
    /** A kubeconfig that exists but cannot be read or parsed: why. */
    readonly unreadable?: string;
    readonly contexts: readonly string[];
    readonly clusters: readonly string[];
    /** current-context as the kubeconfig sets it. */
    readonly currentContext?: string;
    /** The stack's kubernetes:context and kubernetes:cluster, when set. */
    readonly stackContext?: string;
    readonly stackCluster?: string;
    /** The cluster that the chosen context names. */
    readonly contextCluster?: string;
}

/** The cluster a read went to, and as whom. */
export interface Endpoint {
    readonly context: string;
    readonly server: string;
    readonly user: string;
    /** The user's exec credential plugin (command) or auth-provider name, when it has one. */
    readonly plugin?: string;
}

/** One of the program's reads, for messages and the `kubectl auth can-i` that checks it. */
export interface Read {
    /** "namespace workshop", "Service workshop/postgres". */
    readonly what: string;
    readonly verb: "get" | "list";
    /** Plural resource name, as kubectl takes it. */
    readonly resource: string;
    readonly namespace?: string;
}

const LIST_LIMIT = 5;

function listed(names: readonly string[]): string {
    if (names.length === 0) {
        return "none";
    }
    const shown = names.slice(0, LIST_LIMIT).join(", ");
    return names.length > LIST_LIMIT ? `${shown} and ${names.length - LIST_LIMIT} more` : shown;
}

/** A context to name in a command: the only one when there is one, else a placeholder. */
function oneOf(names: readonly string[]): string {
    return names.length === 1 ? names[0] : "<name>";
}

/** One line: whitespace runs (a plugin's stderr, a YAML error) collapsed, and bounded. */
export function oneLine(text: string, limit = 240): string {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > limit ? `${flat.slice(0, limit - 1)}…` : flat;
}

const NEW_CLUSTER = "start a local one with `kind create cluster` or `minikube start` (either writes the kubeconfig and selects its context)";
const CHECK = "then check with `kubectl config current-context`";

/** Why the kubeconfig leads to no cluster, or undefined when it names one. */
export function kubeconfigProblem(state: KubeconfigState): string | undefined {
    if (state.notFound) {
        const { looked, by } = state.notFound;
        if (by === "kubernetes:kubeconfig") {
            return `no kubeconfig: the stack's kubernetes:kubeconfig names ${looked.join(", ")}, which does not exist; ` +
                `point it at an existing file (\`npm run pulumi -- config set kubernetes:kubeconfig <path>\`) or remove it to use the current kube context (\`npm run pulumi -- config rm kubernetes:kubeconfig\`)`;
        }
        if (by === "KUBECONFIG") {
            return `no kubeconfig: KUBECONFIG names ${looked.join(", ")}, and none of them exists; ` +
                `point KUBECONFIG at an existing file or unset it to use ~/.kube/config, or ${NEW_CLUSTER}; ${CHECK}`;
        }
        return `no kubeconfig: KUBECONFIG is not set and ${looked.join(", ")} does not exist, so there is no cluster to deploy to; ` +
            `${NEW_CLUSTER}, or point KUBECONFIG at the kubeconfig of an existing cluster; ${CHECK}`;
    }
    if (state.unreadable !== undefined) {
        return `the kubeconfig ${state.name} cannot be read: ${oneLine(state.unreadable, 160)}; fix or replace it (\`kubectl config view\` shows what kubectl makes of it)`;
    }
    const chosen = state.stackContext ?? state.currentContext;
    if (chosen === undefined || chosen === "") {
        if (state.contexts.length === 0) {
            return `the kubeconfig ${state.name} holds no context, so there is no cluster to deploy to; ${NEW_CLUSTER}; ${CHECK}`;
        }
        return `the kubeconfig ${state.name} sets no current context (its contexts: ${listed(state.contexts)}); ` +
            `choose one with \`kubectl config use-context ${oneOf(state.contexts)}\` (list them with \`kubectl config get-contexts\`)`;
    }
    if (!state.contexts.includes(chosen)) {
        if (state.stackContext !== undefined) {
            return `the stack's kubernetes:context "${chosen}" is not a context of the kubeconfig ${state.name} (its contexts: ${listed(state.contexts)}); ` +
                `set an existing one with \`npm run pulumi -- config set kubernetes:context ${oneOf(state.contexts)}\` (list them with \`kubectl config get-contexts\`)`;
        }
        return `the current context "${chosen}" of the kubeconfig ${state.name} is not defined in it (its contexts: ${listed(state.contexts)}); ` +
            `switch with \`kubectl config use-context ${oneOf(state.contexts)}\` (list them with \`kubectl config get-contexts\`)`;
    }
    if (state.stackCluster !== undefined && !state.clusters.includes(state.stackCluster)) {
        return `the stack's kubernetes:cluster "${state.stackCluster}" is not a cluster of the kubeconfig ${state.name} (its clusters: ${listed(state.clusters)}); ` +
            `set an existing one with \`npm run pulumi -- config set kubernetes:cluster ${oneOf(state.clusters)}\` (list them with \`kubectl config get-clusters\`)`;
    }
    const cluster = state.stackCluster ?? state.contextCluster;
    if (cluster === undefined || cluster === "" || !state.clusters.includes(cluster)) {
        const names = cluster ? `names cluster "${cluster}", which the kubeconfig ${state.name} does not define (deleted with its cluster?)`
            : `of the kubeconfig ${state.name} names no cluster`;
        return `context "${chosen}" ${names}; recreate the cluster (\`kind create cluster\`, \`minikube start\`) ` +
            `or switch to another context with \`kubectl config use-context <name>\` (list them with \`kubectl config get-contexts\`)`;
    }
    return undefined;
}

/** How to get a fresh credential for a user, from its plugin when it has one. */
export function loginHint(plugin: string | undefined): string {
    const command = (plugin ?? "").split("/").pop() ?? "";
    if (/^(aws|aws-iam-authenticator)$/.test(command)) {
        return "log in again (`aws sso login`, or `aws eks update-kubeconfig --name <cluster>`)";
    }
    if (/^(gke-gcloud-auth-plugin|gcloud|gcp)$/.test(command)) {
        return "log in again (`gcloud auth login`, then `gcloud container clusters get-credentials <cluster>`)";
    }
    if (/^(kubelogin|azure)$/.test(command)) {
        return "log in again (`az login`, then `az aks get-credentials --name <cluster> --resource-group <group>`)";
    }
    if (/^(kubectl-oidc_login|oidc-login|oidc)$/.test(command)) {
        return "log in again with your OIDC provider (`kubectl oidc-login get-token …` or the command that wrote this user)";
    }
    return "log in again or fetch a new kubeconfig (`kind export kubeconfig`, `minikube update-context`, or your provider's get-credentials command)";
}

function at(endpoint: Endpoint): string {
    return `the cluster of context "${endpoint.context}" at ${endpoint.server}`;
}

/** The error's code, or its cause's (fetch wraps the socket's error; a name lookup for several addresses may aggregate them). */
function causeCode(error: unknown): string | undefined {
    for (let current: any = error, depth = 0; current && depth < 4; current = current.cause, depth += 1) {
        if (typeof current.code === "string") {
            return current.code;
        }
        const inner = Array.isArray(current.errors) ? current.errors.find((e: any) => typeof e?.code === "string") : undefined;
        if (inner) {
            return inner.code;
        }
    }
    return undefined;
}

function innermostMessage(error: unknown): string {
    let message = (error as Error)?.message ?? String(error);
    for (let current: any = (error as any)?.cause, depth = 0; current && depth < 4; current = current.cause, depth += 1) {
        if (typeof current.message === "string" && current.message !== "") {
            message = current.message;
        }
    }
    return message;
}

const UNREACHABLE: Record<string, string> = {
    ECONNREFUSED: "connection refused: nothing listens there",
    ENOTFOUND: "its host name is not known (DNS)",
    EAI_AGAIN: "its host name could not be looked up (DNS)",
    ETIMEDOUT: "no answer (timed out)",
    UND_ERR_CONNECT_TIMEOUT: "no answer (connection timed out)",
    UND_ERR_HEADERS_TIMEOUT: "it accepted the connection but never answered (timed out)",
    EHOSTUNREACH: "no route to its host",
    ENETUNREACH: "no route to its network",
    ECONNRESET: "it closed the connection",
    UND_ERR_SOCKET: "it closed the connection",
};

const TLS = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_|ERR_SSL_|EPROTO)/;

/** The API's own reason from an error response ("namespaces \"workshop\" is forbidden: …"), not the client's message, which carries every response header. */
export function apiReason(error: unknown): string {
    const { code, body } = error as { code?: unknown; body?: unknown };
    if (typeof code !== "number") {
        return oneLine(innermostMessage(error));
    }
    let status: { message?: unknown } | undefined;
    try {
        status = (typeof body === "string" ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    } catch {
        status = undefined;
    }
    return typeof status?.message === "string" ? `HTTP ${code}: ${oneLine(status.message)}` : `HTTP ${code}`;
}

/** The line for a read that failed (a 404 is not a failure: the caller handles it). */
export function readProblem(error: unknown, read: Read, endpoint: Endpoint): string {
    const status = (error as { code?: unknown })?.code;
    const canI = `kubectl auth can-i ${read.verb} ${read.resource}${read.namespace ? ` -n ${read.namespace}` : ""}`;
    if (status === 401) {
        return `${at(endpoint)} refused the credential of user "${endpoint.user}" (HTTP 401 Unauthorized): it has expired or been revoked; ` +
            `${loginHint(endpoint.plugin)}, then check with \`kubectl auth whoami\``;
    }
    if (status === 403) {
        const reason = apiReason(error);
        if (/system:anonymous/.test(reason)) {
            return `${at(endpoint)} took the program's read of ${read.what} as system:anonymous, so it accepted no credential of user "${endpoint.user}" (${reason}); ` +
                `${loginHint(endpoint.plugin)}, then check with \`kubectl auth whoami\``;
        }
        return `${at(endpoint)} refused the program's read of ${read.what} to user "${endpoint.user}" (${reason}); ` +
            `the program needs get on namespaces, persistentvolumeclaims and services and list on events: check with \`${canI}\`, ` +
            "or use a context with those rights (`kubectl config get-contexts`)";
    }
    if (typeof status === "number") {
        return `could not read ${read.what} from ${at(endpoint)}: ${apiReason(error)}; check the cluster with \`kubectl get --raw /readyz\``;
    }
    const code = causeCode(error);
    if (code !== undefined && code in UNREACHABLE) {
        return `cannot reach ${at(endpoint)}: ${UNREACHABLE[code]}; is the cluster running? Start it (\`minikube start\`, \`docker start kind-control-plane\`) ` +
            "or switch to another context (`kubectl config get-contexts`, `kubectl config use-context <name>`), then check with `kubectl cluster-info`";
    }
    if (code !== undefined && TLS.test(code)) {
        return `${at(endpoint)} did not prove itself with a certificate the kubeconfig trusts (${oneLine(innermostMessage(error).split(";")[0], 120)}); ` +
            "was the cluster recreated? Fetch its kubeconfig again (`kind export kubeconfig`, `minikube update-context`), then check with `kubectl cluster-info`";
    }
    if ((error as Error)?.message === "fetch failed") {
        return `cannot reach ${at(endpoint)}: ${oneLine(innermostMessage(error), 160)}; check the context's server with \`kubectl config view --minify\` and the cluster with \`kubectl cluster-info\``;
    }
    return `could not read ${read.what} from ${at(endpoint)}: ${apiReason(error)}`;
}

/** The line for a user whose credential could not even be made: an exec plugin or auth-provider that failed, or a file it names that is gone. */
export function credentialProblem(error: unknown, endpoint: Endpoint): string {
    const failure = error as { code?: unknown; path?: unknown; syscall?: unknown; message?: unknown };
    const detail = oneLine(typeof failure?.message === "string" ? failure.message : String(error), 200);
    if (failure?.code === "ENOENT" && typeof failure.syscall === "string" && failure.syscall.startsWith("spawn")) {
        return `the credential plugin \`${endpoint.plugin ?? failure.path}\` of user "${endpoint.user}" (context "${endpoint.context}") is not installed (not found on PATH); ` +
            "install it, or switch to another context (`kubectl config get-contexts`, `kubectl config use-context <name>`)";
    }
    if (failure?.code === "ENOENT" && typeof failure.path === "string") {
        return `the kubeconfig's context "${endpoint.context}" names ${failure.path}, which does not exist (deleted with its cluster?); ` +
            "fetch the cluster's kubeconfig again (`kind export kubeconfig`, `minikube update-context`) or switch with `kubectl config use-context <name>`";
    }
    const plugin = endpoint.plugin ? `the credential plugin \`${endpoint.plugin}\` of user "${endpoint.user}"` : `the credential of user "${endpoint.user}"`;
    return `${plugin} (context "${endpoint.context}") failed${detail ? `: ${detail}` : " without a message"}; ${loginHint(endpoint.plugin)}, then check with \`kubectl auth whoami\``;
}

/**
 * Runs the whole Pulumi program (index.ts) offline under mocks and records every resource:
 * its type, name, inputs as the engine would receive them, and the options it was given.
 * Any resource type or provider function the mocks do not know makes the run fail.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ClusterReader, useClusterReader } from "../kube/clusterReader";
import { KubeContextView, useKubeContext } from "../kube/localCluster";
import { useDeployEnvironment } from "../config/pulumiSource";
import { PROJECT } from "../config/settings";
import { useCaFileRoot } from "../tls/caFile";
import { testCa, testServerCertificate } from "./tlsFixture";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    /** Inputs as the engine receives them, with secret values unwrapped. */
    readonly inputs: any;
    /** Inputs as the engine receives them: secret values still wrapped (see `secretPaths`). */
    readonly rawInputs: any;
    /** Options from the program: parent, dependsOn, retainOnDelete, additionalSecretOutputs, ... */
    readonly opts: pulumi.CustomResourceOptions;
    /** The resource object, for reading its outputs and secrecy. */
    readonly resource: pulumi.Resource;
    /** Position in the order the engine saw registrations. */
    readonly order: number;
}

export interface ProgramRun {
    readonly resources: RecordedResource[];
    /** Stack outputs, each as an Output so secrecy can be checked. */
    readonly outputs: Record<string, pulumi.Output<unknown>>;
    /** What the program logged with pulumi.log.warn (under mocks the SDK writes it to console.warn; the run keeps it instead). */
    readonly warnings: readonly string[];
    /** Every resource of a type (exact token). */
    ofType(type: string): RecordedResource[];
    /** The single resource of a type; fails when there is not exactly one. */
    one(type: string): RecordedResource;
    /** The Deployment with this Pulumi resource name ("postgres", "pod-watcher"); fails when absent. */
    deployment(name: string): RecordedResource;
    /** The resource of a type with this Pulumi resource name ("postgres-data"); fails when absent. */
    named(type: string, name: string): RecordedResource;
}

export const LOAD_BALANCER_IP = "203.0.113.10";
export const NODE_PORT = 31432;

/** State a type's mock returns; types missing here are refused. */
const MOCKED_TYPES: Record<string, (name: string, inputs: any) => Record<string, unknown>> = {
    "pulumi:providers:kubernetes": (_n, inputs) => inputs,
    "pulumi:providers:postgresql": (_n, inputs) => inputs,
    "kubernetes:core/v1:Namespace": k8sObject,
    "kubernetes:core/v1:Secret": k8sObject,
    "kubernetes:core/v1:ConfigMap": k8sObject,
    "kubernetes:core/v1:PersistentVolumeClaim": k8sObject,
    "kubernetes:core/v1:ServiceAccount": k8sObject,
    "kubernetes:apps/v1:Deployment": k8sObject,
    "kubernetes:batch/v1:CronJob": k8sObject,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": k8sObject,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": k8sObject,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": k8sObject,
    "kubernetes:core/v1:Service": (name, inputs) => {
        const object = k8sObject(name, inputs);
        const ports = (inputs.spec?.ports ?? []).map((port: any) =>
            inputs.spec?.type === "ClusterIP" ? port : { ...port, nodePort: port.nodePort ?? NODE_PORT });
        const ingress = inputs.spec?.type === "LoadBalancer" ? [{ ip: LOAD_BALANCER_IP }] : [];
        return { ...object, spec: { ...inputs.spec, ports }, status: { loadBalancer: { ingress } } };
    },
    "postgresql:index/role:Role": (_n, inputs) => inputs,
    "postgresql:index/schema:Schema": (_n, inputs) => inputs,
    "postgresql:index/grant:Grant": (_n, inputs) => inputs,
    "postgresql:index/defaultPrivileges:DefaultPrivileges": (_n, inputs) => inputs,
    "pulumi-nodejs:dynamic:Resource": (_n, inputs) => dynamicState(inputs),
};

/** The program's dynamic resources, told apart by their inputs, as after their create. */
function dynamicState(inputs: any): Record<string, unknown> {
    switch (inputs.kind) {
        case "ca":
            return { ...inputs, ...testCa() };
        case "server":
            return { ...inputs, ...testServerCertificate(inputs.names) };
        default:
            // The SQL migrations: as after a run that applied every file.
            return { ...inputs, applied: Object.keys(inputs.files), recorded: Object.keys(inputs.files) };
    }
}

/** Where the program writes the CA's file in the tests: a directory of this process's, never the project's. */
export const CA_FILE_ROOT = path.join(os.tmpdir(), `workshop-ca-file-${process.pid}`);
process.once("exit", () => fs.rmSync(CA_FILE_ROOT, { recursive: true, force: true }));

/** What the Kubernetes API returns: the object with its generated name filled in. */
function k8sObject(name: string, inputs: any): Record<string, unknown> {
    return { ...inputs, metadata: { ...inputs.metadata, name: inputs.metadata?.name ?? `${name}-0a1b2c3d` } };
}

class RecordingMocks implements pulumi.runtime.Mocks {
    readonly engineInputs = new Map<string, any>();
    readonly order = new Map<string, number>();

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        const key = `${args.type}::${args.name}`;
        this.engineInputs.set(key, args.inputs);
        this.order.set(key, this.order.size);
        if (args.type === "pulumi:pulumi:Stack" || !args.custom) {
            return { id: undefined, state: {} };
        }
        const state = MOCKED_TYPES[args.type];
        if (!state) {
            throw new Error(`unmocked resource type ${args.type} (${args.name})`);
        }
        return { id: `${args.name}-id`, state: state(args.name, args.inputs) };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        throw new Error(`unmocked provider function ${args.token}`);
    }
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function isWrappedSecret(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270";
}

function unwrapSecrets(value: unknown): unknown {
    if (isWrappedSecret(value)) {
        return unwrapSecrets(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(unwrapSecrets);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, unwrapSecrets(item)]));
    }
    return value;
}

/** Dotted paths of the values the engine receives as secrets. */
export function secretPaths(value: unknown, prefix = ""): string[] {
    if (isWrappedSecret(value)) {
        return [prefix];
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([key, item]) => secretPaths(item, prefix === "" ? key : `${prefix}.${key}`));
    }
    return [];
}

/** Await an Output's value, known or not. */
export function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(output).apply((value) => { resolve(value as T); return value; }));
}

const INDEX = path.resolve(__dirname, "../index.ts");

/** The cluster as the program's own reads see it: nothing retained exists, the load balancer has its address. */
export const EMPTY_CLUSTER: ClusterReader = {
    namespaceAnnotations: async () => undefined,
    claimAnnotations: async () => undefined,
    loadBalancer: async () => ({ ageSeconds: 1, ingress: [{ ip: LOAD_BALANCER_IP }], events: [] }),
};

/** The kubeconfig's current context as the program sees it: a kind cluster's, never the machine's running the tests. */
export const LOCAL_CONTEXT: KubeContextView = { context: "kind-workshop", cluster: "kind-workshop", server: "https://127.0.0.1:6443" };

/**
 * Runs index.ts with the given stack config (keys without the project prefix, other namespaces
 * spelled out: `kubernetes:kubeconfig`). `secretKeys` are passed as secret config, as
 * `pulumi config set --secret` would. The program's cluster reads go to `cluster`, or with
 * "kubeconfig" to the cluster its config names, as outside the tests. The program sees
 * `kubeContext` as the current context and `env` as its whole environment.
 */
export async function runProgram(config: Record<string, string>, secretKeys: readonly string[] = [],
    options: { preview?: boolean; cluster?: ClusterReader | "kubeconfig"; kubeContext?: KubeContextView; env?: Record<string, string> } = {}): Promise<ProgramRun> {
    const mocks = new RecordingMocks();
    useClusterReader(options.cluster === "kubeconfig" ? undefined : options.cluster ?? EMPTY_CLUSTER);
    useKubeContext(options.cluster === "kubeconfig" ? undefined : options.kubeContext ?? LOCAL_CONTEXT);
    useDeployEnvironment(options.env ?? {});
    useCaFileRoot(CA_FILE_ROOT);
    await pulumi.runtime.setMocks(mocks, PROJECT, "dev", options.preview ?? false, "organization");
    const prefixed = Object.fromEntries(Object.entries(config).map(([key, value]) => [key.includes(":") ? key : `${PROJECT}:${key}`, value]));
    pulumi.runtime.setAllConfig(prefixed, secretKeys.map((key) => `${PROJECT}:${key}`));

    const seen: { type: string; name: string; opts: pulumi.CustomResourceOptions; resource: pulumi.Resource }[] = [];
    let exportsOfIndex: Record<string, unknown> = {};
    const warnings: string[] = [];
    const consoleWarn = console.warn;
    console.warn = (...args: unknown[]) => {
        const line = args.join(" ");
        if (line.startsWith("warning: [runtime] ")) {
            warnings.push(line.slice("warning: [runtime] ".length));
        } else {
            consoleWarn(...args);
        }
    };
    try {
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                seen.push({ type: args.type, name: args.name, opts: args.opts as pulumi.CustomResourceOptions, resource: args.resource });
                return undefined;
            });
            delete require.cache[INDEX];
            exportsOfIndex = require(INDEX);
            return exportsOfIndex;
        });
        // Every registration, including those made inside applies, has reached the mocks.
        await Promise.all(seen.map((entry) => valueOf(entry.resource.urn)));
        // Drain outstanding RPCs (the stack's outputs among them) so the next run's mocks see none of them.
        await pulumi.runtime.disconnect();
    } finally {
        console.warn = consoleWarn;
    }

    const resources = seen.map((entry) => {
        const key = `${entry.type}::${entry.name}`;
        const rawInputs = mocks.engineInputs.get(key);
        return { ...entry, rawInputs, inputs: unwrapSecrets(rawInputs), order: mocks.order.get(key) ?? -1 };
    });
    const outputs = Object.fromEntries(Object.entries(exportsOfIndex).map(([key, value]) => [key, pulumi.output(value)]));
    const ofType = (type: string) => resources.filter((resource) => resource.type === type);
    const named = (type: string, name: string) => {
        const found = ofType(type).find((resource) => resource.name === name);
        if (!found) {
            throw new Error(`no ${type} named ${name}`);
        }
        return found;
    };
    return {
        resources,
        outputs,
        warnings,
        ofType,
        one(type: string) {
            const found = ofType(type);
            if (found.length !== 1) {
                throw new Error(`expected one ${type}, found ${found.length}`);
            }
            return found[0];
        },
        deployment: (name: string) => named("kubernetes:apps/v1:Deployment", name),
        named,
    };
}

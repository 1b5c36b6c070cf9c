/**
 * Runs a program the way `pulumi up` and `pulumi preview` run it: in a Node process started at the
 * SDK's own entry point (`@pulumi/pulumi/cmd/run`, what pulumi-language-nodejs starts), whose
 * uncaught-error handler decides how a failure is printed. Stand-ins, on loopback: an engine that
 * records the log, and a resource monitor that accepts every registration with its inputs as outputs.
 */
import type * as grpcTypes from "@grpc/grpc-js";
import { spawn } from "child_process";
import { createRequire } from "module";
import * as path from "path";

const SDK = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
// The gRPC library and generated code the SDK itself loads.
const sdkRequire = createRequire(path.join(SDK, "package.json"));
const grpc: typeof grpcTypes = sdkRequire("@grpc/grpc-js");
const resourceGrpc = sdkRequire("./proto/resource_grpc_pb.js");
const resourcePb = sdkRequire("./proto/resource_pb.js");
const engineGrpc = sdkRequire("./proto/engine_grpc_pb.js");
const enginePb = sdkRequire("./proto/engine_pb.js");
const emptyPb = sdkRequire("google-protobuf/google/protobuf/empty_pb.js");

const ROOT = path.resolve(__dirname, "..");
const SEVERITY: Record<number, string> = { 1: "info", 2: "warning", 3: "error" };

export interface LogEntry {
    readonly severity: string;
    readonly message: string;
    /** The resource the message is about; "" for the program as a whole. */
    readonly urn: string;
}

export interface RuntimeRun {
    /** 32: the runtime printed the error itself and the language host adds nothing; 1: it did not. */
    readonly exitCode: number | null;
    /** What the engine would print: info, warnings and errors. */
    readonly log: LogEntry[];
    readonly errors: LogEntry[];
    readonly stderr: string;
}

type Callback = (error: Error | null, response?: unknown) => void;

/**
 * Runs `program` (a path under the repository, TypeScript allowed) with `config` (full keys) in the
 * given mode and environment; resolves when the process has exited.
 */
export async function runUnderLanguageRuntime(program: string, config: Record<string, string>,
    options: { preview: boolean; secretKeys?: string[]; env?: Record<string, string> }): Promise<RuntimeRun> {
    const log: LogEntry[] = [];
    let root = "";
    const server = new grpc.Server();
    server.addService(resourceGrpc.ResourceMonitorService, {
        supportsFeature: (call: { request: any }, callback: Callback) => {
            const response = new resourcePb.SupportsFeatureResponse();
            response.setHassupport(["secrets", "resourceReferences"].includes(call.request.getId()));
            callback(null, response);
        },
        registerResource: (call: { request: any }, callback: Callback) => {
            const request = call.request;
            const type: string = request.getType();
            const urn = `urn:pulumi:dev::workshop-postgres::${type}::${request.getName()}`;
            const response = new resourcePb.RegisterResourceResponse();
            response.setUrn(urn);
            if (request.getCustom()) {
                response.setId(options.preview ? "" : `${request.getName()}-id`);
                response.setObject(request.getObject());
            }
            callback(null, response);
        },
        registerResourceOutputs: (_call: unknown, callback: Callback) => callback(null, new emptyPb.Empty()),
        signalAndWaitForShutdown: (_call: unknown, callback: Callback) => callback(null, new emptyPb.Empty()),
    });
    server.addService(engineGrpc.EngineService, {
        log: (call: { request: any }, callback: Callback) => {
            // Debug messages are the SDK's own tracing of every RPC, not what a user sees.
            if (call.request.getSeverity() === enginePb.LogSeverity.DEBUG) {
                callback(null, new emptyPb.Empty());
                return;
            }
            log.push({ severity: SEVERITY[call.request.getSeverity()] ?? "?", message: call.request.getMessage(), urn: call.request.getUrn() });
            callback(null, new emptyPb.Empty());
        },
        getRootResource: (_call: unknown, callback: Callback) => {
            const response = new enginePb.GetRootResourceResponse();
            response.setUrn(root);
            callback(null, response);
        },
        setRootResource: (call: { request: any }, callback: Callback) => {
            root = call.request.getUrn();
            callback(null, new enginePb.SetRootResourceResponse());
        },
    });
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => error ? reject(error) : resolve(bound)));
    const address = `127.0.0.1:${port}`;
    try {
        const args = [path.join(SDK, "cmd/run"), `--monitor=${address}`, `--engine=${address}`, "--project=workshop-postgres", "--stack=dev",
            "--organization=organization", `--pwd=${ROOT}`, ...(options.preview ? ["--dry-run"] : []), program];
        const child = spawn(process.execPath, args, {
            cwd: ROOT,
            env: {
                ...process.env,
                PULUMI_CONFIG: JSON.stringify(config),
                PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(options.secretKeys ?? []),
                // As the language host sets them for a TypeScript project; type checking is `npm test`'s job.
                PULUMI_NODEJS_TYPESCRIPT: "true",
                PULUMI_NODEJS_TRANSPILE_ONLY: "true",
                ...options.env,
            },
            stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk) => {
            stderr += chunk;
        });
        const exitCode = await new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        return { exitCode, log, errors: log.filter((entry) => entry.severity === "error"), stderr };
    } finally {
        server.forceShutdown();
    }
}

/**
 * `npm run test:e2e`: the program under the real Pulumi engine and providers, on a real Kubernetes
 * node built on this machine (../e2e/node: a control plane, containerd, runc, the CNI bridge,
 * kubelet, kube-proxy, CoreDNS) running the stack's own pods, in the order Pulumi's ProgramTest uses
 * (preview, up, preview and refresh with no changes, edits, destroy) plus this project's rules and
 * every way the PostgreSQL pod goes down. The deploying machine reaches the database only through
 * the program's tunnel (tunnel/), as `npm run up` does. See README "Tests".
 *
 * Stand-ins, and only these: the images (built here from Debian packages and the pinned Node, not
 * pulled: e2e/node/images.sh), the fake SendGrid on loopback (relayed to the bridge for the pods),
 * and the postgresql provider (e2e/standins/postgresql: the real one cannot be built here). With
 * E2E_KUBECONFIG the user's own cluster replaces the local node, with upstream images; the steps
 * that need this machine's node (stopping its kubelet, watching its processes, mail from its pods to
 * the fake SendGrid) are skipped there, and say so.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { execFile, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DATABASE_SERVICE } from "../config/route";
import { FORWARD_PORT, PROJECT } from "../config/settings";
import { NO_CONTROLLER_SECONDS } from "../kube/loadBalancer";
import type { Connection } from "../schema/migrationRunner";
import { DEV_PASSPHRASE } from "../testing/devStack";
import { queryOnce as sql } from "../testing/embeddedPostgres";
import { startFakeSendgrid } from "../testing/fakeSendgrid";
import { testCa } from "../testing/tlsFixture";
import { startTunnel, Tunnel } from "../tunnel/tunnel";
import { ControlPlane, startControlPlane } from "./controlPlane";
import { ApiError, collectionPath, KubeApi, objectPath, readKubeconfig, writeKubeconfig } from "./kubeApi";
import { isReady, postgresPods, StepContext } from "./node/context";
import { Capture, startCapture } from "./node/capture";
import { backupAndRestore, oomKill, WATCHER_BLIND_SECONDS, watcherInItsDeployment } from "./node/faults";
import { NETWORK, NODE_NAME, NodeState, prepareNode, startNode, stopNode } from "./node/node";
import { Relay, startRelay } from "./node/relay";
import { crash, gracefulStop, LOCK_TRIALS, nodeLoss, oneServerOnTheVolume } from "./node/stops";
import { allocatedPorts, listening, Processes, processesMentioning, run, runStreaming, until } from "./processes";
import { freeBytes, RUN_COST, say, STANDIN_COST, toolsCostLines } from "./progress";
import { makeRunDir, mib, processesUsing, removeRunDir } from "./runDirs";
import { copyProject, programIn, step, tally } from "./steps";

const ROOT = path.resolve(__dirname, "..");
const STACK = "e2e";
const NAMESPACE = "workshop-e2e";
const DB = { user: "postgres", password: "Aw3s0m3", name: "WORKSHOP" };
const SCHEMA = "workshop";
const APP_USER = "workshop_app";
/**
 * The last commit before the code moved into folders by concern (issue 18). Moving files changes no
 * URN; a stack that commit deployed must keep every resource under this program.
 */
const BEFORE_LAYOUT = "32222c94f9de0f9397a8f5d2ffe5f34f849ab43b";
/** The claims that destroy keeps: the data's and the backups'. */
const CLAIMS = ["postgres-data", "postgres-backup-storage"];
/** What the controllers create in every namespace, and the claims. */
const LEFT_BY_DESIGN = new Set(["ConfigMap/kube-root-ca.crt", "ServiceAccount/default", ...CLAIMS.map((claim) => `PersistentVolumeClaim/${claim}`)]);

/** Every value of `expected` is in `actual` at the same path; secrets (encrypted in state) are skipped. */
function subsetMismatches(expected: unknown, actual: unknown, at = ""): string[] {
    if (typeof expected === "object" && expected !== null && "4dabf18193072939515e22adb298388d" in expected) {
        return [];
    }
    if (Array.isArray(expected)) {
        if (!Array.isArray(actual)) {
            return [`${at}: expected a list, found ${JSON.stringify(actual)}`];
        }
        return expected.flatMap((item, index) => subsetMismatches(item, actual[index], `${at}[${index}]`));
    }
    if (typeof expected === "object" && expected !== null) {
        if (typeof actual !== "object" || actual === null) {
            return [`${at}: expected an object, found ${JSON.stringify(actual)}`];
        }
        return Object.entries(expected).flatMap(([key, value]) => subsetMismatches(value, (actual as any)[key], at === "" ? key : `${at}.${key}`));
    }
    return String(expected) === String(actual) ? [] : [`${at}: declared ${JSON.stringify(expected)}, live ${JSON.stringify(actual)}`];
}

/** Where a text occurs in a JSON value: resource URNs and property paths, never the text itself. */
function pathsContaining(value: unknown, text: string, at = ""): string[] {
    if (typeof value === "string") {
        return value.includes(text) ? [at] : [];
    }
    if (typeof value !== "object" || value === null) {
        return [];
    }
    const urn = (value as { urn?: string }).urn;
    return Object.entries(value).flatMap(([key, item]) => pathsContaining(item, text, urn ? `${urn}:${key}` : at === "" ? key : `${at}.${key}`));
}

/** The error diagnostics of an engine run's output (a failed operation's message holds it), each with the resource it is shown under. */
function errorDiagnostics(output: string): { under: string; message: string }[] {
    const found: { under: string; message: string }[] = [];
    let under = "";
    for (const line of output.slice(output.indexOf("\nDiagnostics:\n") + 1).split("\n").slice(1)) {
        if (/^\S/.test(line)) {
            break;
        }
        const heading = /^ {2}(\S.*):$/.exec(line);
        const error = /^ {4}error: (.*)$/.exec(line);
        if (heading) {
            under = heading[1];
        } else if (error) {
            found.push({ under, message: error[1] });
        }
    }
    return found;
}

/**
 * A refusal reads as one clear message: its text alone, under the PostgresInstance that refuses.
 * The inline program's runtime also ends the run with the same text under the stack; `npm run up`'s
 * (cmd/run) does not, see test/refusals.test.ts.
 */
function assertOneRefusal(failure: Error, refusal: RegExp): string {
    const errors = errorDiagnostics(failure.message);
    const context = `errors: ${JSON.stringify(errors, null, 1)}\n${failure.message}`;
    assert.deepStrictEqual(errors.filter((e) => e.under === "workshop:database:PostgresInstance (postgres)").length, 1, context);
    for (const error of errors) {
        assert.match(error.message, refusal, context);
        assert.ok(error.under === "workshop:database:PostgresInstance (postgres)" || error.under.startsWith("pulumi:pulumi:Stack ("), context);
    }
    assert.ok(errors.length <= 2, context);
    assert.doesNotMatch(failure.message, /error serializing property|unhandled exception|^\s+at \S+ \(/im, "no serialization prefixes, no stack trace");
    return `${errors.length} error diagnostic(s), under ${errors.map((e) => e.under.split(" ")[0]).join(" and ")}`;
}

/**
 * e2e/tools/build.sh with its progress on the console as it comes ("tools | start pulumi …",
 * "tools | built pulumi … 487s"), said first what a cold build costs; go's own output goes to the
 * log. Resolves with the bin directory, build.sh's last line.
 */
async function buildTools(logDir: string): Promise<string> {
    const log = path.join(logDir, "tools-build.log");
    toolsCostLines({ free: freeBytes(os.homedir()), log }).forEach((line) => say(`tools | ${line}`));
    const stdout = await runStreaming("bash", [path.join(ROOT, "e2e/tools/build.sh")], { onLine: (line) => say(`tools | ${line}`), logFile: log });
    return stdout.trim().split("\n").pop() as string;
}

/**
 * What becomes of the run's directory, in words for the closing lines: a passing run removes it
 * (its processes are stopped by then, and it is removed only if no other process uses it), unless
 * E2E_KEEP=1; a failing run keeps it for its logs.
 */
function leaveRunDir(tmp: string, passed: boolean): string {
    const clean = "`npm run test:e2e:clean` removes it later";
    if (!passed) {
        return `the run's directory is kept for its logs: ${path.join(tmp, "logs")} (${clean})`;
    }
    if (process.env.E2E_KEEP !== undefined && process.env.E2E_KEEP !== "" && process.env.E2E_KEEP !== "0") {
        return `kept ${tmp} as E2E_KEEP asks (${clean})`;
    }
    const users = processesUsing([fs.realpathSync(tmp)]).get(fs.realpathSync(tmp)) ?? [];
    if (users.length > 0) {
        return `kept ${tmp}: still in use by ${users.join("; ")} (${clean})`;
    }
    try {
        return `removed ${tmp} (${mib(removeRunDir(tmp))}; E2E_KEEP=1 keeps it)`;
    } catch (error) {
        return `could not remove ${tmp}: ${(error as Error).message} (${clean})`;
    }
}

/** The images the local node runs, by role, from images.sh's list ("<archive> <reference>" per line). */
function localImages(list: string): { postgres: string; postgresAlt: string; node: string } {
    const refs = fs.readFileSync(list, "utf8").trim().split("\n").map((line) => line.split(" ")[1]);
    const named = (name: string) => refs.filter((ref) => ref.split("/").pop()?.split(":")[0] === name);
    const postgres = named("postgres");
    return { postgres: postgres.find((ref) => !ref.endsWith("-b")) as string, postgresAlt: postgres.find((ref) => ref.endsWith("-b")) as string, node: named("node")[0] };
}

/**
 * The mailer's API address (SENDGRID_API_URL, which the mailer reads and the stack has no setting
 * for) added to the alert settings ConfigMap, pointing at the fake SendGrid's relay on the bridge;
 * and the watcher's blind bound (BLIND_ALERT_SECONDS, read from the same ConfigMap) shortened for step n5.
 */
function mailerAddress(sendgridUrl: () => string | undefined): () => void {
    return () => pulumi.runtime.registerStackTransformation((args) => {
        const url = sendgridUrl();
        if (url !== undefined && args.type === "kubernetes:core/v1:ConfigMap" && args.props.data !== undefined) {
            return {
                props: { ...args.props, data: pulumi.output(args.props.data).apply((data: Record<string, string>) =>
                    ("ALERT_TO" in data ? { ...data, SENDGRID_API_URL: url, BLIND_ALERT_SECONDS: String(WATCHER_BLIND_SECONDS) } : data)) },
                opts: args.opts,
            };
        }
        return undefined;
    });
}

/** A CA that is not the stack's: a server it signed must be refused. */
const foreignCa = () => testCa().certificate;

const figures: string[] = [];

function figure(text: string): void {
    figures.push(text);
    console.log(`      ${text}`);
}

async function main(): Promise<number> {
    const ownCluster = process.env.E2E_KUBECONFIG;
    if (!ownCluster && process.getuid?.() !== 0) {
        console.log("npm run test:e2e builds a Kubernetes node on this machine, which needs root (a bridge, mounts, cgroups); " +
            "run it as root, or against a cluster of yours with E2E_KUBECONFIG=<kubeconfig>.\n0 passed, 1 failed");
        return 1;
    }
    // $TMPDIR/workshop-e2e-XXXXXX with an owner file, so that npm run test:e2e:clean never takes a running run's directory.
    const tmp = makeRunDir();
    const logDir = path.join(tmp, "logs");
    fs.mkdirSync(logDir);
    const processes = new Processes(logDir);
    console.log(`workshop-postgres end-to-end run; logs in ${logDir}`);
    console.log(`${RUN_COST}; a passing run then removes ${tmp} (E2E_KEEP=1 keeps it), a failing one keeps it for its logs`);
    /** Steps that need this machine's node; skipped, and said so, on a cluster of the user's. */
    const onNode = (name: string, body: () => Promise<void>) => step(ownCluster ? `${name} (skipped: needs the local node, not E2E_KUBECONFIG's cluster)` : name,
        ownCluster ? async () => undefined : body);

    let binDir = "";
    let standinDir = "";
    let imagesList = "";
    let images: ReturnType<typeof localImages> | undefined;
    let kubeconfig = ownCluster ?? "";
    let api: KubeApi | undefined;
    let plane: ControlPlane | undefined;
    let node: NodeState | undefined;
    let mailRelay: Relay | undefined;
    let apiRelay: Relay | undefined;
    const tunnels: Tunnel[] = [];
    let capture: Capture | undefined;
    const mail = await startFakeSendgrid();
    const secrets = {
        app: `app-${randomBytes(9).toString("base64url")}`,
        sendgrid: `SG.${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`,
        backup: `backup-${randomBytes(9).toString("base64url")}`,
        newDb: `Aw3s0m3-${randomBytes(6).toString("base64url")}`,
    };
    let stack: Stack | undefined;
    let tunnel: Tunnel | undefined;
    const project = path.join(tmp, "project");
    const podMailUrl = () => (mailRelay ? `http://${NETWORK.address}:${mailRelay.port}` : undefined);
    const program = programIn(project, mailerAddress(podMailUrl));
    const engineEnv: Record<string, string> = {};

    const kube = () => api as KubeApi;
    const kubectlPath = () => (ownCluster ? "kubectl" : path.join(binDir, "kubectl"));
    const kubectl = (...args: string[]) => run(kubectlPath(), ["--kubeconfig", kubeconfig, ...args]);
    const stackResources = async (): Promise<any[]> => ((await (stack as Stack).exportStack()).deployment.resources ?? []);
    const k8sObjects = async () => (await stackResources()).filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers"));
    const live = (outputs: any) => kube().find(objectPath(outputs.apiVersion, outputs.kind, outputs.metadata.name, outputs.metadata.namespace));
    let dbPassword = DB.password;
    /** The CA of stack e2e (its output caCertificate), which the deploying machine's connections verify the server with. */
    let stackCa = "";
    /** A role's connection through a tunnel, verify-full against a stack's CA (the server's name: 127.0.0.1, the tunnel's end). */
    const through = (via: Tunnel, user: string, password: string, ca = stackCa): Connection =>
        ({ host: "127.0.0.1", port: via.port, user, password, database: DB.name, sslMode: "verify-full", ca });
    const superuser = (password = dbPassword) => through(tunnel as Tunnel, DB.user, password);
    const pvcUid = async () => Promise.all(CLAIMS.map(async (claim) =>
        (await kube().get(`/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/${claim}`)).metadata.uid as string));
    const namespaceUid = async () => (await kube().get(`/api/v1/namespaces/${NAMESPACE}`)).metadata.uid as string;
    const engineLog = (name: string) => {
        const file = path.join(logDir, `pulumi-${name}.log`);
        return { onOutput: (text: string) => fs.appendFileSync(file, text) };
    };
    /** The program's tunnel (as scripts/pulumi.sh starts it around the CLI) for a namespace's database, on a free local port. */
    const openTunnel = async (namespace: string, port = 0): Promise<Tunnel> => {
        const opened = await startTunnel({ cluster: { kubeconfig }, namespace, service: DATABASE_SERVICE, port,
            log: (line) => fs.appendFileSync(path.join(logDir, `tunnel-${namespace}.log`), `${line}\n`) });
        tunnels.push(opened);
        return opened;
    };
    const pulumiCommand = () => PulumiCommand.get({ root: ownCluster ? undefined : path.dirname(binDir), skipVersionCheck: true });
    /** A new stack of the project copy with the run's secrets and images, reaching the database through `via`, plus `extra`. */
    const newStack = async (name: string, via: Tunnel | undefined, extra: Record<string, string>, ofProgram = program): Promise<Stack> => {
        const created = await LocalWorkspace.createStack({ stackName: name, projectName: PROJECT, program: ofProgram },
            { workDir: project, pulumiCommand: await pulumiCommand(), envVars: engineEnv });
        const plain = { dbName: DB.name, dbUser: DB.user, alertTo: "ops@example.com", alertFrom: "alerts@example.com",
            ...(via ? { tunnelPort: String(via.port) } : {}), ...(images ? { image: images.postgres, alertImage: images.node } : {}), ...extra };
        const secret = { dbPassword: DB.password, appPassword: secrets.app, sendgridApiKey: secrets.sendgrid, backupPassword: secrets.backup };
        await created.setAllConfig(Object.fromEntries([
            ...Object.entries(plain).map(([key, value]) => [`${PROJECT}:${key}`, { value }]),
            ...Object.entries(secret).map(([key, value]) => [`${PROJECT}:${key}`, { value, secret: true }]),
        ]));
        return created;
    };
    /**
     * As `pulumi up` runs an update: a preview of the same program and config first (the Automation
     * API's up passes --skip-preview), so a program that fails only in preview fails here too.
     */
    const update = async (target: Stack, name: string) => {
        const preview = await target.preview(engineLog(`${name}.preview`));
        return { preview, up: await target.up(engineLog(name)) };
    };
    const attendeeCount = async () => Number((await sql(superuser(), `SELECT count(*) AS n FROM ${SCHEMA}.attendees`))[0].n);
    const context = (): StepContext => ({ api: kube, kubectl, kubectlPath: kubectlPath(), kubeconfig, namespace: NAMESPACE, mail,
        superuser: () => superuser(), figure, logDir });

    /** Stops and removes everything the run made; once, whether the run ends or is interrupted. */
    let cleaned: Promise<void> | undefined;
    const cleanup = () => (cleaned ??= (async () => {
        await capture?.stop();
        await Promise.all(tunnels.map((opened) => opened.close()));
        await mailRelay?.close();
        await apiRelay?.close();
        await mail.close();
        const problems: string[] = [];
        // The control plane, with time to finish its shutdown; the time is reported.
        const stopControlPlane = async () => {
            const started = Date.now();
            for (const name of ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]) {
                const pids = processesMentioning(path.join(tmp, "cluster")).filter((p) => p.split(": ")[1].includes(`/${name} `))
                    .map((p) => Number(p.split(":")[0]));
                pids.forEach((pid) => { try { process.kill(pid, "SIGTERM"); } catch { /* gone */ } });
                const stopped = await until(`${name} to stop`, 30_000, async () => (pids.every((pid) => !fs.existsSync(`/proc/${pid}`)) ? true : undefined), 100)
                    .catch(() => false);
                if (!stopped) {
                    problems.push(`${name} did not stop within 30 s of SIGTERM`);
                }
            }
            figure(`control plane stop ${((Date.now() - started) / 1000).toFixed(1)} s`);
        };
        if (node) {
            const { left, notes, seconds } = await stopNode(node, stopControlPlane);
            figure(`node teardown (control plane included) ${seconds.toFixed(1)} s`);
            problems.push(...notes, ...left.map((item) => `left: ${item}`));
        }
        const killed = await processes.stopAll();
        problems.push(...killed.map((name) => `${name} needed SIGKILL`));
        for (const port of [...allocatedPorts, FORWARD_PORT, Number(new URL(mail.url).port)].filter((p) => p > 0)) {
            if (await listening(port)) {
                problems.push(`left: a listener on 127.0.0.1:${port}`);
            }
        }
        problems.push(...[...processesMentioning(tmp), ...(ownCluster || binDir === "" ? [] : processesMentioning(binDir))].map((p) => `left: process ${p}`));
        assert.deepStrictEqual(problems, [], "the host is as it was");
    })());
    // Ctrl-C or a SIGTERM: the node and its processes are removed before the run ends.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => {
            console.log(`\n${signal}: cleaning up before exiting`);
            cleanup().then(() => console.log("cleanup done"), (error: Error) => console.log(`cleanup: ${error.message}`))
                .finally(() => process.exit(130));
        });
    }

    try {
        await step("tools: find or build the pinned toolchain, the node's tools included", async () => {
            if (ownCluster) {
                binDir = path.dirname((await run("bash", ["-c", "command -v pulumi"])).trim());
            } else {
                // E2E_TOOLS_BIN: a directory of already built tools (for example from an earlier build.sh).
                binDir = process.env.E2E_TOOLS_BIN ?? await buildTools(logDir);
                for (const tool of ["pulumi", "kubelet", "containerd", "runc", "pause"]) {
                    assert.ok(fs.existsSync(path.join(binDir, tool)), `no ${tool} in ${binDir}${tool === "runc"
                        ? ": build.sh builds runc only with Debian's libseccomp-dev and pkg-config (apt-get install -y libseccomp-dev pkg-config)" : ""}`);
                }
            }
            // The real provider cannot be built here (see e2e/standins/postgresql/main.go): its stand-in goes beside the tools.
            standinDir = path.join(ownCluster ? tmp : path.dirname(binDir), "standins");
            say(`tools | ${STANDIN_COST}`);
            const standinStarted = Date.now();
            await run("go", ["build", "-trimpath", "-o", path.join(standinDir, "pulumi-resource-postgresql"), "."],
                { cwd: path.join(ROOT, "e2e/standins/postgresql"), env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" } });
            say(`tools | the stand-in is ready (${((Date.now() - standinStarted) / 1000).toFixed(1)} s)`);
        });

        await onNode("images: the PostgreSQL, Node and pause stand-ins as OCI archives (built from Debian packages, cached)", async () => {
            const stdout = await runStreaming("bash", [path.join(ROOT, "e2e/node/images.sh"), path.join(binDir, "pause")],
                { onLine: (line) => say(`images | ${line}`), logFile: path.join(logDir, "images.log") });
            imagesList = path.join(stdout.trim().split("\n").pop() as string, "images.list");
            assert.ok(fs.existsSync(imagesList), `no ${imagesList}`);
            images = localImages(imagesList);
        });

        await step(ownCluster ? "cluster: use E2E_KUBECONFIG" : "cluster: a node on a bridge of its own (control plane, containerd + images, kubelet Ready, kube-proxy, CoreDNS, local volumes)", async () => {
            if (ownCluster) {
                api = new KubeApi(readKubeconfig(ownCluster));
                await api.get("/version");
                return;
            }
            const started = Date.now();
            node = await prepareNode(binDir, path.join(tmp, "node"));
            plane = await startControlPlane(binDir, path.join(tmp, "cluster"), processes, { nodeName: NODE_NAME, address: NETWORK.address,
                serviceCidr: NETWORK.serviceCidr, kubernetesServiceIp: NETWORK.kubernetesServiceIp, nodeMonitorGraceSeconds: 20 });
            node.timings["control plane"] = (Date.now() - started) / 1000 - (node.timings.bridge ?? 0);
            await startNode(node, { binDir, imagesList }, processes, plane);
            figure(`node bring-up ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.entries(node.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ")}`);
            // The pods reach the fake SendGrid on the bridge; the deploying machine reaches the API server on
            // loopback, as on kind or minikube (the API server itself listens on the bridge, for the pods).
            mailRelay = await startRelay(NETWORK.address, { host: "127.0.0.1", port: Number(new URL(mail.url).port) });
            apiRelay = await startRelay("127.0.0.1", { host: NETWORK.address, port: Number(new URL(plane.server).port) });
            kubeconfig = path.join(tmp, "deployer.kubeconfig");
            writeKubeconfig(kubeconfig, { ...plane.api.credentials, server: `https://127.0.0.1:${apiRelay.port}` });
            api = new KubeApi(readKubeconfig(kubeconfig));
            await api.get("/version");
        });

        await step("i. the committed dev stack: `npm run pulumi` opens Pulumi.dev.yaml's secrets with the documented passphrase", async () => {
            copyProject(project);
            const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, PULUMI_BACKEND_URL: `file://${path.join(tmp, "dev-state")}`,
                PULUMI_HOME: path.join(tmp, "pulumi-home"), PULUMI_SKIP_UPDATE_CHECK: "true" };
            delete env.PULUMI_CONFIG_PASSPHRASE;
            delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
            fs.mkdirSync(path.join(tmp, "dev-state"), { recursive: true });
            const out = await run("npm", ["run", "--silent", "pulumi", "--", "config", "get", "dbPassword"], { cwd: project, env });
            assert.strictEqual(out.trim().split("\n").pop(), DB.password, "the dev stack's dbPassword decrypts to the challenge's value");
        });

        await onNode("capture: tcpdump records the tunnel's traffic to the pod (its listener, the API server, the kubelet) from here to step t", async () => {
            tunnel = await openTunnel(NAMESPACE);
            capture = await startCapture(path.join(logDir, "capture.pcap"),
                [tunnel.port, (apiRelay as Relay).port, Number(new URL((plane as ControlPlane).server).port), (node as NodeState).kubeletPort as number]);
        });

        await step("a. preview, then up of a new stack with no load balancer and no dbHost: the pod Ready (probes, initdb as 999, postStart, restricted, read-only root), the schema through the tunnel", async () => {
            const state = path.join(tmp, "state");
            fs.mkdirSync(state);
            Object.assign(engineEnv, {
                PULUMI_BACKEND_URL: `file://${state}`,
                PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
                PULUMI_HOME: path.join(tmp, "pulumi-home"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                KUBECONFIG: kubeconfig,
                PATH: [binDir, standinDir, path.join(ROOT, "node_modules/.bin"), process.env.PATH].filter((dir) => dir).join(":"),
                ...(ownCluster ? {} : { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" }),
            });
            // The program's own cluster reads run in this process (see `program` above), so they see the same cluster;
            // and it writes the CA file relative to its working directory, the project's, where the provider reads it.
            process.env.KUBECONFIG = kubeconfig;
            process.chdir(project);
            tunnel ??= await openTunnel(NAMESPACE);
            stack = await newStack(STACK, tunnel, { namespace: NAMESPACE, watcherNotReadySeconds: "10" });
            const started = Date.now();
            const { preview, up } = await update(stack, "a-up");
            assert.ok((preview.changeSummary.create ?? 0) > 0, "the preview of a new stack plans creates");
            assert.strictEqual(up.summary.result, "succeeded");
            figure(`preview and up of a new stack to schema applied: ${((Date.now() - started) / 1000).toFixed(1)} s`);
            stackCa = up.outputs.caCertificate.value;
            assert.match(stackCa, /BEGIN CERTIFICATE/, "the stack exports its CA");
            const service = await kube().get(`/api/v1/namespaces/${NAMESPACE}/services/postgres`);
            assert.strictEqual(service.spec.type, "ClusterIP", "nothing published");
            assert.strictEqual((await stack.getAllConfig())[`${PROJECT}:dbHost`], undefined, "no dbHost");
            const [pod] = await postgresPods(context());
            assert.ok(pod && isReady(pod), "the PostgreSQL pod is Ready");
            const deployment = await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/postgres`);
            const readyAt = Date.parse(pod.status.conditions.find((c: any) => c.type === "Ready").lastTransitionTime);
            figure(`PostgreSQL pod Ready ${((readyAt - Date.parse(deployment.metadata.creationTimestamp)) / 1000).toFixed(0)} s after its Deployment was created (API timestamps, 1 s resolution)`);
            const logs = await kubectl("-n", NAMESPACE, "logs", pod.metadata.name, "-c", "postgres");
            assert.match(logs, /PostgreSQL init process complete; ready for start up\./, "initdb by the image's entrypoint on the empty claim");
            assert.match(logs, /database system is ready to accept connections/);
            const ids = (await kubectl("-n", NAMESPACE, "exec", pod.metadata.name, "-c", "postgres", "--", "sh", "-c",
                "id -u; id -G; stat -c %u:%g \"$PGDATA\"; touch /root-write 2>&1 || echo read-only")).trim().split("\n");
            assert.strictEqual(ids[0], "999", "the server runs as uid 999");
            assert.ok(ids[1].split(" ").includes("999"), "with the pod's fsGroup");
            assert.strictEqual(ids[2], "999:999", "PGDATA belongs to 999");
            assert.match(ids.slice(3).join("\n"), /Read-only file system|read-only/, "the root file system is read-only");
            const events = (await kube().get(`/api/v1/namespaces/${NAMESPACE}/events`)).items
                .filter((e: any) => e.type === "Warning" && e.involvedObject?.name === pod.metadata.name).map((e: any) => `${e.reason}: ${e.message}`);
            assert.deepStrictEqual(events.filter((e: string) => /FailedPostStartHook|Unhealthy|Failed/.test(e)), [], "no probe or hook failure");
            const watcher = (await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`)).items.find((d: any) => d.metadata.name !== "postgres");
            await until("the watcher Deployment to be available", 60_000, async () => {
                const current = await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${watcher.metadata.name}`);
                return current.status?.availableReplicas === 1 ? true : undefined;
            });
        });

        await step("t. TLS through the tunnel: verify-full against the stack's CA succeeds, another CA and sslmode=disable are refused; no password crossed a socket in clear", async () => {
            const [version] = await sql(superuser(), "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
            assert.strictEqual(version.ssl, true, "the superuser's session through the tunnel is TLS");
            figure(`the session through the tunnel: ${version.version}, verify-full against the stack's CA and the name 127.0.0.1`);
            await assert.rejects(sql({ ...superuser(), ca: foreignCa() }, "SELECT 1"), /self[- ]signed|unable to verify|certificate/i, "a server the stack's CA did not sign is refused");
            // In clear, with a marker in the startup packet: the server refuses it, and the capture must show the marker.
            const marker = `e2e-marker-${randomBytes(6).toString("hex")}`;
            await assert.rejects(sql({ ...superuser(), sslMode: "disable", ca: undefined, password: "not-the-password", database: marker }, "SELECT 1"),
                /pg_hba\.conf rejects connection .*no encryption/, "sslmode=disable from outside the pod is refused by pg_hba");
            if (capture) {
                await capture.seen(Buffer.from(marker), 10_000).catch(() => undefined);
                const bytes = await capture.stop();
                figure(`capture: ${(bytes.length / 1024).toFixed(0)} KiB of the tunnel's traffic during the first up and these connections`);
                assert.ok(bytes.includes(Buffer.from(marker)), "the capture saw the clear-text attempt's marker: it records the tunnel's traffic");
                for (const [what, value] of Object.entries({ "superuser password": DB.password, "application role password": secrets.app, "backup role password": secrets.backup })) {
                    assert.ok(!bytes.includes(Buffer.from(value)), `the ${what} crossed a socket in clear`);
                }
            }
        });

        await step("b. API server: every object as declared; the pod admitted under restricted PodSecurity and Ready; the PVC Bound", async () => {
            const objects = await k8sObjects();
            assert.ok(objects.length >= 10, `the stack holds its Kubernetes objects (${objects.length})`);
            for (const object of objects) {
                const found = await live(object.outputs);
                const name = `${object.outputs.kind} ${object.outputs.metadata.namespace ?? ""}/${object.outputs.metadata.name}`;
                assert.ok(found, `${name} exists in the API server`);
                assert.strictEqual(found.metadata.uid, object.outputs.metadata.uid, `${name} is the object the stack created`);
                const declared = { ...object.inputs };
                delete declared.stringData;
                const mismatches = subsetMismatches(declared, found);
                assert.deepStrictEqual(mismatches, [], `${name} is live as the program declares it`);
            }
            const namespace = await kube().get(`/api/v1/namespaces/${NAMESPACE}`);
            assert.strictEqual(namespace.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
            // PodSecurity admission is really enforcing: a root pod is refused in this namespace.
            await assert.rejects(kube().request("POST", `/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, {
                apiVersion: "v1", kind: "Pod", metadata: { name: "root-probe" },
                spec: { containers: [{ name: "c", image: "busybox:1.36", securityContext: { runAsUser: 0 } }] },
            }), (error: unknown) => error instanceof ApiError && error.status === 403 && /violates PodSecurity "restricted/.test(error.message));
            const pods = await postgresPods(context());
            assert.strictEqual(pods.length, 1, "one PostgreSQL pod");
            assert.ok(isReady(pods[0]), "the PostgreSQL pod is Ready");
            for (const name of CLAIMS) {
                const claim = await kube().get(`/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/${name}`);
                const storageClass = await kube().get(`/apis/storage.k8s.io/v1/storageclasses/${claim.spec.storageClassName}`);
                // A WaitForFirstConsumer class binds the backup claim with the first backup Job's pod.
                const waits = name !== CLAIMS[0] && storageClass.volumeBindingMode === "WaitForFirstConsumer" && claim.status.phase === "Pending";
                assert.ok(claim.status.phase === "Bound" || waits, `${name} is Bound (or waits for its first consumer): ${claim.status.phase}`);
            }
        });

        await step("c. PostgreSQL: role, schema, grants, default privileges, the table and its row, the ledger closed to the application", async () => {
            const app = { ...superuser(secrets.app), user: APP_USER };
            const [role] = await sql(superuser(dbPassword), "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1", [APP_USER]);
            assert.deepStrictEqual(role, { rolcanlogin: true, rolsuper: false });
            const [schema] = await sql(superuser(dbPassword), "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", [SCHEMA]);
            assert.strictEqual(schema?.owner, DB.user);
            const [privileges] = await sql(superuser(dbPassword), `SELECT
                has_schema_privilege($1, $2, 'USAGE') AS usage,
                has_table_privilege($1, $2 || '.attendees', 'SELECT,INSERT,UPDATE,DELETE') AS dml,
                has_schema_privilege($1, $2, 'CREATE') AS can_create`, [APP_USER, SCHEMA]);
            assert.deepStrictEqual(privileges, { usage: true, dml: true, can_create: false });
            const defaults = await sql(superuser(dbPassword), `SELECT defaclobjtype AS kind FROM pg_default_acl d
                JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = $1 AND array_to_string(d.defaclacl, ',') LIKE '%' || $2 || '%' ORDER BY 1`, [SCHEMA, APP_USER]);
            assert.deepStrictEqual(defaults.map((d) => d.kind), ["S", "r"], "default privileges for sequences and tables");
            const rows = await sql(app, `SELECT full_name FROM ${SCHEMA}.attendees`);
            assert.ok(rows.some((r) => r.full_name === "Ada Lovelace"), "the seed row, read as the application role");
            const ledger = await sql(superuser(dbPassword), `SELECT filename FROM ${SCHEMA}.sql_migrations ORDER BY filename`);
            assert.deepStrictEqual(ledger.map((r) => r.filename), fs.readdirSync(path.join(project, "sql")).filter((f) => f.endsWith(".sql")).sort());
            // The application may not make the next up apply files again: the ledger is closed to it.
            const [deleted] = await sql(app, `WITH gone AS (DELETE FROM ${SCHEMA}.sql_migrations RETURNING 1) SELECT count(*) AS n FROM gone`)
                .catch((error: Error) => [{ n: `refused: ${error.message}` }]);
            assert.ok(deleted.n === "0" || String(deleted.n).startsWith("refused"), `the application role deleted ${deleted.n} ledger rows`);
            assert.strictEqual((await sql(superuser(dbPassword), `SELECT count(*) AS n FROM ${SCHEMA}.sql_migrations`))[0].n, String(ledger.length));
        });

        await step("d. preview --expect-no-changes, then refresh --expect-no-changes", async () => {
            await (stack as Stack).preview({ expectNoChanges: true, diff: true, ...engineLog("d-preview") });
            await (stack as Stack).refresh({ expectNoChanges: true, ...engineLog("d-refresh") });
        });

        await step("j. pod watcher: its ServiceAccount may do exactly what its Role says", async () => {
            const resources = await stackResources();
            const account = resources.find((r) => r.type === "kubernetes:core/v1:ServiceAccount").outputs.metadata.name;
            const subject = `system:serviceaccount:${NAMESPACE}:${account}`;
            // kubectl answers "yes" (exit 0) or "no" (exit 1); anything else is an error, not a "no".
            const canI = (...args: string[]) => new Promise<boolean>((resolve, reject) => {
                execFile(kubectlPath(), ["auth", "can-i", ...args, `--as=${subject}`], { env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) => {
                    const answer = stdout.trim();
                    if (answer === "yes" && !error) {
                        resolve(true);
                    } else if (answer === "no" && error?.code === 1) {
                        resolve(false);
                    } else {
                        reject(new Error(`kubectl auth can-i ${args.join(" ")}: ${stdout}${stderr}`));
                    }
                });
            });
            for (const verb of ["get", "list", "watch"]) {
                assert.ok(await canI(verb, "pods", "-n", NAMESPACE), `${verb} pods`);
            }
            assert.ok(await canI("get", "pods", "--subresource=log", "-n", NAMESPACE), "get pods/log");
            for (const verb of ["get", "list", "watch"]) {
                assert.ok(await canI(verb, "jobs.batch", "-n", NAMESPACE), `${verb} backup jobs`);
            }
            for (const denied of [["get", "secrets"], ["list", "secrets"], ["delete", "pods"], ["create", "pods"], ["get", "configmaps"],
                ["patch", "deployments"], ["create", "pods", "--subresource=exec"], ["list", "pods", "-n", "default"], ["get", "nodes"],
                ["create", "jobs.batch"], ["delete", "jobs.batch"], ["get", "cronjobs.batch"], ["list", "jobs.batch", "-n", "default"]]) {
                const args = denied.includes("-n") ? denied : [...denied, "-n", NAMESPACE];
                assert.ok(!(await canI(...args)), `the watcher may not ${denied.join(" ")}`);
            }
        });

        await onNode("n1. graceful stop: `kubectl delete pod`; the preStop hooks raise no failure; one alert with the pod's name; a clean shutdown; the replacement has every row",
            () => gracefulStop(context(), secrets.sendgrid));
        await onNode("n2. crash: SIGKILL to the postmaster; the kubelet restarts the container; the in-cluster watcher mails once with the reason and exit code",
            () => crash(context()));
        await onNode("n3. OOM: a query exceeds the server's memory limit; the kernel kills its backend, the server exits (restart_after_crash=off), the container restarts; one OOMKilled alert",
            () => oomKill(context()));
        await onNode("n4. node loss: the kubelet stops; node and pod go NotReady; the watcher mails after its threshold; the kubelet returns: one recovery mail",
            () => nodeLoss(context(), node as NodeState, processes, plane as ControlPlane));
        await onNode("n5. watcher in its Deployment: in-cluster config, projected token, the kubernetes Service through kube-proxy; its Role removed: one \"NOT working\" mail, then one \"work again\"",
            () => watcherInItsDeployment(context()));
        await step("n6. backup: a Job from the backup CronJob reaches the server by its Service name (CoreDNS, kube-proxy) with verify-full, dumps, restore-checks, publishes; `npm run restore` puts it back; the rows match",
            async () => {
                const outputs = await (stack as Stack).outputs();
                await backupAndRestore(context(), outputs.backupCronJob.value, outputs.database.value, (...args) =>
                    run("bash", ["-c", `npm run -s restore -- ${args.map((arg) => `'${arg}'`).join(" ")} 2>&1`],
                        { cwd: project, env: { ...process.env, ...engineEnv, PULUMI_STACK: STACK } }));
            });

        await onNode(`n7. one server on the volume: ${LOCK_TRIALS.length} pod deletions under writes (the last forced); each new server starts after the old one's last process ended; rows intact; pg_amcheck clean`,
            () => oneServerOnTheVolume(context()));

        await step("r. a role removed from the program is dropped by `up` (the engine's delete, after the program has ended, reaches the database through the tunnel); the backup claim is kept", async () => {
            const backupRole = async () => (await sql(superuser(), "SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'workshop_backup'"))[0].n as number;
            assert.strictEqual(await backupRole(), 1, "the backup role exists");
            const claims = await pvcUid();
            // Backups stay off from here on: the later steps need no second roll of the pod for them.
            await (stack as Stack).setConfig(`${PROJECT}:backupEnabled`, { value: "false" });
            const { up } = await update(stack as Stack, "r-up-without-backups");
            assert.ok((up.summary.resourceChanges?.delete ?? 0) > 0, "the update deletes the backup's resources");
            assert.strictEqual(await backupRole(), 0, "the backup role is dropped");
            assert.deepStrictEqual(await pvcUid(), claims, "the backup claim, which holds the backups, is kept");
        });

        await step("k. the Quick start: the committed dev stack on a cluster as it comes (no load balancer, no dbHost) plans, comes up, and `npm run pulumi -- refresh` and `npm run destroy` reach the database through the scripts' tunnel", async () => {
            // The committed dev stack's config and passphrase, as the README's first command runs it; a namespace
            // of its own (the user's cluster may hold `workshop`), and on the local node its stand-in images.
            const dev = await LocalWorkspace.createStack({ stackName: "dev", projectName: PROJECT, program },
                { workDir: project, pulumiCommand: await pulumiCommand(), envVars: { ...engineEnv, PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE } });
            const namespace = `${NAMESPACE}-dev`;
            await dev.setAllConfig({ [`${PROJECT}:namespace`]: { value: namespace },
                ...(images ? { [`${PROJECT}:image`]: { value: images.postgres }, [`${PROJECT}:alertImage`]: { value: images.node } } : {}) });
            assert.strictEqual((await dev.getConfig(`${PROJECT}:dbPassword`)).value, DB.password, "the dev stack's own secrets");
            const config = await dev.getAllConfig();
            assert.deepStrictEqual([config[`${PROJECT}:dbHost`], config[`${PROJECT}:serviceType`], config[`${PROJECT}:tunnelPort`]], [undefined, undefined, undefined],
                "no dbHost, no serviceType, no tunnelPort: ClusterIP and the tunnel on 127.0.0.1:15432");
            // `npm run up` runs the CLI inside the tunnel; the Automation API runs the program in this process, so the tunnel is started here,
            // on the dev stack's port, by the same code. The CLI path itself is the refresh and destroy below.
            const quickTunnel = await openTunnel(namespace, FORWARD_PORT);
            const started = Date.now();
            const { preview, up } = await update(dev, "k-up");
            assert.ok((preview.changeSummary.create ?? 0) > 0, "the first preview plans creates");
            assert.strictEqual(up.summary.result, "succeeded");
            figure(`Quick start: preview and up of the dev stack to schema applied ${((Date.now() - started) / 1000).toFixed(1)} s, with no load balancer and no dbHost`);
            assert.strictEqual((await kube().get(`/api/v1/namespaces/${namespace}/services/postgres`)).spec.type, "ClusterIP");
            const rows = await sql(through(quickTunnel, DB.user, DB.password, up.outputs.caCertificate.value), "SELECT full_name FROM workshop.attendees");
            assert.ok(rows.some((row) => row.full_name === "Ada Lovelace"), "the seed row");
            await quickTunnel.close();
            const cli = { cwd: project, env: { ...process.env, ...engineEnv, PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE, PULUMI_STACK: "dev" } };
            const refreshed = await run("bash", ["-c", "npm run -s pulumi -- refresh --yes --expect-no-changes 2>&1"], cli);
            fs.writeFileSync(path.join(logDir, "k-npm-refresh.log"), refreshed);
            assert.match(refreshed, /tunnel: 127\.0\.0\.1:15432 -> Service workshop-e2e-dev\/postgres's Ready pod/, "the scripts started the tunnel");
            // `pulumi` run by hand, as the README says: `npm run tunnel` in another terminal first.
            const byHand = spawn("npm", ["run", "-s", "tunnel"], { cwd: project, env: cli.env, stdio: ["ignore", "ignore", "pipe"], detached: true });
            let said = "";
            byHand.stderr.on("data", (chunk) => { said += chunk; });
            const byHandExit = new Promise((resolve) => byHand.once("exit", resolve));
            try {
                await until("npm run tunnel to listen", 60_000, async () => (said.includes("Ctrl-C stops it") ? true : undefined), 100);
                const direct = await run(path.join(binDir, "pulumi"), ["refresh", "--yes", "--expect-no-changes", "--stack", "dev"], cli);
                fs.writeFileSync(path.join(logDir, "k-pulumi-refresh-by-hand.log"), `${said}\n${direct}`);
            } finally {
                // Ctrl-C in its terminal: the whole process group.
                process.kill(-(byHand.pid as number), "SIGINT");
                await byHandExit;
            }
            assert.ok(!(await listening(FORWARD_PORT)), "npm run tunnel ended on Ctrl-C");
            const destroyed = await run("bash", ["-c", "npm run -s destroy -- --yes 2>&1"], cli);
            fs.writeFileSync(path.join(logDir, "k-npm-destroy.log"), destroyed);
            assert.match(destroyed, /tunnel: 127\.0\.0\.1:15432 ->/);
            assert.ok(!(await listening(FORWARD_PORT)), "the tunnel ended with the CLI");
            // The dev stack keeps its data on destroy; this run removes it by hand (it goes while the next steps run).
            await kube().request("DELETE", `/api/v1/namespaces/${namespace}`);
            await dev.workspace.removeStack("dev");
        });

        await step("k2. a stack that opts into a LoadBalancer, on a cluster without a load-balancer controller: a plan, then one clear refusal after the 20-second rule", async () => {
            const namespace = `${NAMESPACE}-lb`;
            const published = await newStack("lb", undefined, { namespace, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24", allowDataDeletion: "true", backupEnabled: "false" });
            const preview = await published.preview(engineLog("k2-up.preview"));
            assert.ok((preview.changeSummary.create ?? 0) > 0, "the first preview plans creates");
            const started = Date.now();
            const failure = await published.up(engineLog("k2-up")).then(() => undefined, (error: Error) => error);
            const seconds = (Date.now() - started) / 1000;
            const service = await kube().get(`/api/v1/namespaces/${namespace}/services/postgres`);
            assert.deepStrictEqual([service.spec.loadBalancerSourceRanges, service.spec.externalTrafficPolicy], [["203.0.113.0/24"], "Local"]);
            if (ownCluster && service.status?.loadBalancer?.ingress?.length) {
                // A cluster of the user's with a load-balancer controller: the rule under test does not apply.
                console.log(`      (this cluster gave the Service an address; up ${failure ? "failed" : "succeeded"} after ${seconds.toFixed(1)} s)`);
            } else {
                assert.ok(failure, "up fails when no address can come");
                const printed = assertOneRefusal(failure, new RegExp(`^the LoadBalancer Service ${namespace}/postgres has no address after \\d+ s and no load-balancer ` +
                    "controller .*minikube tunnel.*config rm workshop-postgres:serviceType.*npm run up` again$"));
                assert.ok(seconds >= NO_CONTROLLER_SECONDS && seconds < 3 * NO_CONTROLLER_SECONDS,
                    `up failed after ${seconds.toFixed(1)} s: the ${NO_CONTROLLER_SECONDS} s window, not the provider's 10 minutes`);
                console.log(`      (preview planned ${preview.changeSummary.create} creates; up failed after ${seconds.toFixed(1)} s with ${printed})`);
            }
            await published.destroy(engineLog("k2-destroy"));
            await until(`namespace ${namespace} to be gone`, 120_000, async () => ((await kube().find(`/api/v1/namespaces/${namespace}`)) ? undefined : true), 1000);
            await published.workspace.removeStack("lb");
        });

        await step("l. a stack deployed by the program before the layout move (and before TLS): this program's preview keeps every URN (no delete); its up turns TLS on, every row kept", async () => {
            // That commit's program, bundles built from its own sources, as its user would have run it.
            const before = path.join(tmp, "project-before-layout");
            fs.mkdirSync(before);
            await run("bash", ["-c", `git -C "${ROOT}" archive ${BEFORE_LAYOUT} | tar -x -C "${before}"`]);
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(before, "node_modules"));
            await run(process.execPath, ["scripts/build-alerting.mjs"], { cwd: before });
            const name = "before-layout";
            // Its own namespace and server, beside stack e2e's.
            // That program has no tunnel: it reaches its pod at dbHost/dbPort, here the tunnel of its namespace.
            const movedTunnel = await openTunnel(`${NAMESPACE}-moved`);
            const old = await newStack(name, undefined, { namespace: `${NAMESPACE}-moved`, serviceType: "ClusterIP", dbHost: "127.0.0.1", dbPort: String(movedTunnel.port),
                allowDataDeletion: "true", backupEnabled: "false" }, programIn(before, mailerAddress(podMailUrl)));
            assert.strictEqual((await update(old, "l-before-up")).up.summary.result, "succeeded");
            const now = await LocalWorkspace.selectStack({ stackName: name, projectName: PROJECT, program }, { workDir: project, pulumiCommand: old.workspace.pulumiCommand, envVars: engineEnv });
            const steps: { op: string; urn: string }[] = [];
            const preview = await now.preview({ ...engineLog("l-after.preview"), onEvent: (event) => {
                const metadata = event.resourcePreEvent?.metadata;
                if (metadata) {
                    steps.push({ op: metadata.op, urn: metadata.urn });
                }
            } });
            // A moved URN shows as a delete (and a create); a replacement keeps its URN (an immutable ConfigMap whose content changed).
            // Only resources that later commits added are created.
            const deleted = steps.filter((step) => step.op === "delete").map((step) => step.urn);
            assert.deepStrictEqual(deleted, [], "no resource is deleted: every URN is kept");
            const named = (op: string) => [...new Set(steps.filter((step) => step.op === op).map((step) => step.urn.split("::").pop()))].join(", ") || "none";
            console.log(`      (${preview.changeSummary.same ?? 0} the same; changed since by later commits: updated ${named("update")}; replaced ${named("replace")}; added ${named("create")})`);
            // The stack made before TLS turns it on in one up, keeping its data.
            const oldCount = Number((await sql({ ...through(movedTunnel, DB.user, DB.password), sslMode: "disable", ca: undefined }, "SELECT count(*) AS n FROM workshop.attendees"))[0].n);
            const upgraded = await now.up(engineLog("l-after-up"));
            assert.strictEqual(upgraded.summary.result, "succeeded");
            const movedCa = upgraded.outputs.caCertificate.value as string;
            const [session] = await sql(through(movedTunnel, DB.user, DB.password, movedCa), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
            assert.strictEqual(session.ssl, true, "TLS, verify-full against its new CA");
            assert.strictEqual(Number((await sql(through(movedTunnel, DB.user, DB.password, movedCa), "SELECT count(*) AS n FROM workshop.attendees"))[0].n), oldCount,
                "every row kept");
            await assert.rejects(sql({ ...through(movedTunnel, DB.user, DB.password), sslMode: "disable", ca: undefined }, "SELECT 1"), /no encryption/, "and no more clear text");
            await now.destroy(engineLog("l-destroy"));
            await now.workspace.removeStack(name);
        });

        await step("e. in-place config change (password, image tag, resources, service type): the pod rolls; the claim, the rows and the Deployment stay", async () => {
            const claim = await pvcUid();
            const rows = await attendeeCount();
            const resources = await stackResources();
            const uidOf = (type: string, suffix: string) => resources.find((r) => r.type === type && r.urn.endsWith(suffix)).outputs.metadata.uid;
            const deploymentUid = uidOf("kubernetes:apps/v1:Deployment", "::postgres");
            const serviceUid = uidOf("kubernetes:core/v1:Service", "::postgres");
            const [pod] = await postgresPods(context());
            await (stack as Stack).setAllConfig({
                [`${PROJECT}:dbPassword`]: { value: secrets.newDb, secret: true },
                [`${PROJECT}:image`]: { value: images?.postgresAlt ?? "postgres:18.1-trixie" },
                [`${PROJECT}:cpuRequest`]: { value: "300m" },
                [`${PROJECT}:memoryLimit`]: { value: "768Mi" },
                [`${PROJECT}:serviceType`]: { value: "NodePort" },
                // NodePort needs dbHost: here the same address the tunnel gave, so the provider's settings stay as they were.
                [`${PROJECT}:dbHost`]: { value: "127.0.0.1" },
                [`${PROJECT}:dbPort`]: { value: String((tunnel as Tunnel).port) },
            });
            dbPassword = secrets.newDb;
            const { up } = await update(stack as Stack, "e-up");
            assert.strictEqual(up.summary.result, "succeeded");
            assert.deepStrictEqual(await pvcUid(), claim, "the claims keep their uids");
            assert.strictEqual(await attendeeCount(), rows, "the rows are still there");
            const deployment = await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/postgres`);
            assert.strictEqual(deployment.metadata.uid, deploymentUid, "the Deployment was updated in place");
            assert.strictEqual(deployment.spec.template.spec.containers[0].image, images?.postgresAlt ?? "postgres:18.1-trixie");
            const [current] = await postgresPods(context());
            assert.ok(current.metadata.uid !== pod.metadata.uid && isReady(current), "a new pod is Ready");
            await assert.rejects(sql(superuser(DB.password), "SELECT 1"), /password authentication failed/, "the old password no longer works: the postStart hook set the new one");
            assert.strictEqual(deployment.spec.template.spec.containers[0].resources.requests.cpu, "300m");
            const service = await kube().get(`/api/v1/namespaces/${NAMESPACE}/services/postgres`);
            assert.strictEqual(service.metadata.uid, serviceUid, "the Service was updated in place");
            assert.strictEqual(service.spec.type, "NodePort");
            await (stack as Stack).preview({ expectNoChanges: true, ...engineLog("e-preview") });
        });

        await step("f. a new file in sql/: applied once, listed in sqlFilesApplied, usable by the application role", async () => {
            fs.writeFileSync(path.join(project, "sql", "003_e2e_notes.sql"),
                "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);\nINSERT INTO notes (body) VALUES ('written by the e2e run');\n");
            const { up } = await update(stack as Stack, "f-up");
            assert.ok((up.outputs.sqlFilesApplied.value as string[]).includes("003_e2e_notes.sql"), "listed in sqlFilesApplied");
            const { up: again } = await update(stack as Stack, "f-up-again");
            assert.deepStrictEqual(Object.keys(again.summary.resourceChanges ?? {}).filter((op) => op !== "same"), [], "a second up changes nothing");
            const ledger = await sql(superuser(dbPassword), `SELECT count(*) AS n FROM ${SCHEMA}.sql_migrations WHERE filename = '003_e2e_notes.sql'`);
            assert.strictEqual(Number(ledger[0].n), 1, "recorded once");
            const app = { ...superuser(secrets.app), user: APP_USER };
            await sql(app, `INSERT INTO ${SCHEMA}.notes (body) VALUES ('from the application')`);
            const notes = await sql(app, `SELECT body FROM ${SCHEMA}.notes ORDER BY id`);
            assert.deepStrictEqual(notes.map((n) => n.body), ["written by the e2e run", "from the application"]);
        });

        await step("g. pulumi stack export holds no secret in plain text and no default postgresql provider", async () => {
            // As a user exports it: the Automation API's exportStack adds --show-secrets.
            const exported = await run(path.join(binDir, "pulumi"), ["stack", "export", "--stack", STACK], { cwd: project, env: { ...process.env, ...engineEnv } });
            const state = JSON.parse(exported);
            assert.ok(exported.includes("\"ciphertext\""), "the export holds the secrets encrypted");
            for (const [what, value] of Object.entries({ "first superuser password": DB.password, "changed superuser password": secrets.newDb,
                "app password": secrets.app, "SendGrid key": secrets.sendgrid, "backup role password": secrets.backup })) {
                assert.ok(!exported.includes(value), `the ${what} is in the state in plain text at ${pathsContaining(state, value).join(", ")}`);
            }
            const providers = (await stackResources()).filter((r) => r.type === "pulumi:providers:postgresql");
            assert.ok(providers.length >= 1 && providers.every((p) => !p.urn.includes("::default")), "only the program's explicit postgresql provider");
        });

        await step("h. destroy keeps the namespace, the claims and the tables; up reuses them with every row; allowDataDeletion removes all", async () => {
            const claim = await pvcUid();
            const namespace = await namespaceUid();
            const rows = await attendeeCount();
            await (stack as Stack).destroy(engineLog("h-destroy"));
            assert.strictEqual(await namespaceUid(), namespace, "the namespace is kept");
            assert.deepStrictEqual(await pvcUid(), claim, "the data and backup claims are kept");
            const left: string[] = [];
            for (const [apiVersion, kind] of [["v1", "Secret"], ["v1", "ConfigMap"], ["v1", "Service"], ["v1", "ServiceAccount"], ["apps/v1", "Deployment"],
                ["networking.k8s.io/v1", "NetworkPolicy"], ["rbac.authorization.k8s.io/v1", "Role"], ["rbac.authorization.k8s.io/v1", "RoleBinding"],
                ["batch/v1", "CronJob"], ["batch/v1", "Job"], ["v1", "PersistentVolumeClaim"]]) {
                const list = await kube().get(collectionPath(apiVersion, kind, NAMESPACE));
                left.push(...list.items.map((item: any) => `${kind}/${item.metadata.name}`).filter((name: string) => !LEFT_BY_DESIGN.has(name)));
            }
            assert.deepStrictEqual(left, [], "nothing else of the stack is left in the namespace (the server is gone with its Deployment)");

            // A claim this stack did not create is never taken over.
            const claimPath = `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/postgres-data`;
            const owner = (await kube().get(claimPath)).metadata.annotations?.["workshop-postgres/stack"];
            assert.ok(owner, "the retained claim names its stack");
            const annotate = (value: string) => kube().request("PATCH", claimPath, { metadata: { annotations: { "workshop-postgres/stack": value } } }, "application/merge-patch+json");
            await annotate("someone-else/other-project/prod");
            try {
                const refused = await (stack as Stack).preview(engineLog("h-preview-foreign")).then(() => undefined, (error: Error) => error);
                assert.ok(refused, "the preview refuses the claim");
                assertOneRefusal(refused, /^PersistentVolumeClaim workshop-e2e\/postgres-data already exists and belongs to stack someone-else\/other-project\/prod; .*=organization\/workshop-postgres\/e2e$/);
            } finally {
                await annotate(owner);
            }

            const { up } = await update(stack as Stack, "h-up-again");
            assert.strictEqual(up.summary.result, "succeeded");
            // destroy took the CA with the rest of the state: the server now presents a certificate of a new one.
            assert.notStrictEqual(up.outputs.caCertificate.value, stackCa, "a new CA");
            stackCa = up.outputs.caCertificate.value;
            assert.deepStrictEqual(await pvcUid(), claim, "the next up reuses the same claims");
            assert.strictEqual(await namespaceUid(), namespace, "and the same namespace");
            assert.strictEqual(await attendeeCount(), rows, "with every row: destroy kept the tables");

            await (stack as Stack).setConfig(`${PROJECT}:allowDataDeletion`, { value: "true" });
            await update(stack as Stack, "h-up-deletion");
            await (stack as Stack).destroy(engineLog("h-destroy-all"));
            await until(`namespace ${NAMESPACE} to be gone`, 120_000, async () => ((await kube().find(`/api/v1/namespaces/${NAMESPACE}`)) ? undefined : true), 1000);
            await (stack as Stack).workspace.removeStack(STACK);
        });
    } finally {
        await step("cleanup: every process stopped; on the local node its containers, mounts, netns, bridge, iptables rules and cgroups removed; no listener left", cleanup, true);
    }
    const { allPassed, seconds, closing } = tally();
    console.log(`\ne2e wall time ${seconds} s; ${leaveRunDir(tmp, allPassed)}`);
    if (figures.length > 0) {
        console.log(`figures:\n${figures.map((f) => `  ${f}`).join("\n")}`);
    }
    console.log(closing);
    return allPassed ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
});

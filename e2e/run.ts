/**
 * `npm run test:e2e`: the program under the real Pulumi engine and providers against a real
 * Kubernetes API server, in the order Pulumi's ProgramTest uses (preview, up, preview and refresh
 * with no changes, edits, destroy) plus this project's rules. See README "End-to-end test".
 *
 * Stand-ins, and only these: kwok runs no container (pods are made Ready by kwok's stages, so
 * images, probes and hooks are not run), a PostgreSQL server on loopback plays the pod's server,
 * and a loopback fake plays SendGrid. With E2E_KUBECONFIG the user's own cluster replaces the
 * local control plane.
 */
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import { execFile } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NO_CONTROLLER_SECONDS } from "../kube/loadBalancer";
import { PROJECT } from "../config/settings";
import { startFakeSendgrid } from "../testing/fakeSendgrid";
import { DEV_PASSPHRASE } from "../testing/devStack";
import { queryOnce as sql, startPostgres, TestServer } from "../testing/embeddedPostgres";
import { kwokStageFiles, NODE_NAME, startControlPlane } from "./controlPlane";
import { ApiError, collectionPath, KubeApi, objectPath, readKubeconfig, writeKubeconfig } from "./kubeApi";
import { runContainer } from "./kubeletLocal";
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

async function main(): Promise<number> {
    // $TMPDIR/workshop-e2e-XXXXXX with an owner file, so that npm run test:e2e:clean never takes a running run's directory.
    const tmp = makeRunDir();
    const logDir = path.join(tmp, "logs");
    fs.mkdirSync(logDir);
    const processes = new Processes(logDir);
    const ownCluster = process.env.E2E_KUBECONFIG;
    console.log(`workshop-postgres end-to-end run; logs in ${logDir}`);
    console.log(`${RUN_COST}; a passing run then removes ${tmp} (E2E_KEEP=1 keeps it), a failing one keeps it for its logs`);

    let binDir = "";
    let standinDir = "";
    let kubeconfig = ownCluster ?? "";
    let api: KubeApi | undefined;
    let postgres: TestServer | undefined;
    const mail = await startFakeSendgrid();
    const secrets = {
        app: `app-${randomBytes(9).toString("base64url")}`,
        sendgrid: `SG.${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`,
        backup: `backup-${randomBytes(9).toString("base64url")}`,
        newDb: `Aw3s0m3-${randomBytes(6).toString("base64url")}`,
    };
    let stack: Stack | undefined;
    const project = path.join(tmp, "project");
    const program = programIn(project);
    const engineEnv: Record<string, string> = {};
    let pgPort = 0;

    const kube = () => api as KubeApi;
    const stackResources = async (): Promise<any[]> => ((await (stack as Stack).exportStack()).deployment.resources ?? []);
    const k8sObjects = async () => (await stackResources()).filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers"));
    const live = (outputs: any) => kube().find(objectPath(outputs.apiVersion, outputs.kind, outputs.metadata.name, outputs.metadata.namespace));
    const superuser = (password: string) => ({ host: "127.0.0.1", port: pgPort, user: DB.user, password, database: DB.name, sslMode: "disable" as const });
    let dbPassword = DB.password;
    const pvcUid = async () => Promise.all(CLAIMS.map(async (claim) =>
        (await kube().get(`/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/${claim}`)).metadata.uid as string));
    const namespaceUid = async () => (await kube().get(`/api/v1/namespaces/${NAMESPACE}`)).metadata.uid as string;
    const engineLog = (name: string) => {
        const file = path.join(logDir, `pulumi-${name}.log`);
        return { onOutput: (text: string) => fs.appendFileSync(file, text) };
    };
    /** A new stack of the project copy with the dev stack's settings (LoadBalancer) and the run's secrets, plus `extra`. */
    const newStack = async (name: string, extra: Record<string, string>, ofProgram = program): Promise<Stack> => {
        const pulumiCommand = await PulumiCommand.get({ root: ownCluster ? undefined : path.dirname(binDir), skipVersionCheck: true });
        const created = await LocalWorkspace.createStack({ stackName: name, projectName: PROJECT, program: ofProgram },
            { workDir: project, pulumiCommand, envVars: engineEnv });
        const plain = { dbName: DB.name, dbUser: DB.user, serviceType: "LoadBalancer", alertTo: "ops@example.com", alertFrom: "alerts@example.com", ...extra };
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
    const attendeeCount = async () => Number((await sql(superuser(dbPassword), `SELECT count(*) AS n FROM ${SCHEMA}.attendees`))[0].n);

    try {
        await step("tools: find or build the pinned toolchain", async () => {
            if (ownCluster) {
                binDir = path.dirname((await run("bash", ["-c", "command -v pulumi"])).trim());
                return;
            }
            // E2E_TOOLS_BIN: a directory of already built tools (for example from an earlier build.sh).
            binDir = process.env.E2E_TOOLS_BIN ?? await buildTools(logDir);
            assert.ok(fs.existsSync(path.join(binDir, "pulumi")), `no pulumi in ${binDir}`);
            // The real provider cannot be built here (see e2e/standins/postgresql/main.go): its stand-in goes beside the tools.
            standinDir = path.join(path.dirname(binDir), "standins");
            say(`tools | ${STANDIN_COST}`);
            const standinStarted = Date.now();
            await run("go", ["build", "-trimpath", "-o", path.join(standinDir, "pulumi-resource-postgresql"), "."],
                { cwd: path.join(ROOT, "e2e/standins/postgresql"), env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" } });
            say(`tools | the stand-in is ready (${((Date.now() - standinStarted) / 1000).toFixed(1)} s)`);
        });

        await step(ownCluster ? "cluster: use E2E_KUBECONFIG" : "cluster: etcd, kube-apiserver, controller-manager, scheduler and kwok on 127.0.0.1", async () => {
            if (ownCluster) {
                api = new KubeApi(readKubeconfig(ownCluster));
                await api.get("/version");
                return;
            }
            const kwokDir = JSON.parse(await run("go", ["list", "-m", "-json", `sigs.k8s.io/kwok`], { cwd: path.join(ROOT, "e2e/tools/kwok") })).Dir;
            const plane = await startControlPlane({ binDir, kwokStages: kwokStageFiles(kwokDir) }, path.join(tmp, "cluster"), processes);
            api = plane.api;
            kubeconfig = plane.kubeconfig;
        });

        await step("postgres: a real PostgreSQL 18 on loopback stands in for the pod's server", async () => {
            postgres = await startPostgres({ password: DB.password });
            await postgres.createDatabase(DB.name);
            pgPort = postgres.port;
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

        await step("a. preview, then up of a new stack", async () => {
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
            // The program's own cluster reads run in this process (see `program` below), so they see the same cluster.
            process.env.KUBECONFIG = kubeconfig;
            stack = await newStack(STACK, {
                namespace: NAMESPACE,
                allowedCidrs: "0.0.0.0/0",
                dbHost: "127.0.0.1",
                dbPort: String(pgPort),
                watcherNotReadySeconds: "10",
            });
            const { preview, up } = await update(stack, "a-up");
            assert.ok((preview.changeSummary.create ?? 0) > 0, "the preview of a new stack plans creates");
            assert.strictEqual(up.summary.result, "succeeded");
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
            const pods = (await kube().get(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io/name=postgresql`)).items;
            assert.strictEqual(pods.length, 1, "one PostgreSQL pod");
            assert.ok(pods[0].status.conditions.some((c: any) => c.type === "Ready" && c.status === "True"), "the PostgreSQL pod is Ready");
            for (const name of CLAIMS) {
                const claim = await kube().get(`/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/${name}`);
                assert.strictEqual(claim.status.phase, "Bound", `${name} is Bound`);
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

        await step("j. pod watcher: its own token, exactly its Role, one alert for a forced deletion", async () => {
            const resources = await stackResources();
            const account = resources.find((r) => r.type === "kubernetes:core/v1:ServiceAccount").outputs.metadata.name;
            const subject = `system:serviceaccount:${NAMESPACE}:${account}`;
            const kubectl = ownCluster ? "kubectl" : path.join(binDir, "kubectl");
            // kubectl answers "yes" (exit 0) or "no" (exit 1); anything else is an error, not a "no".
            const canI = (...args: string[]) => new Promise<boolean>((resolve, reject) => {
                execFile(kubectl, ["auth", "can-i", ...args, `--as=${subject}`], { env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) => {
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
            const token = (await kube().create(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${account}/token`, {
                apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 },
            })).status.token;
            const watcherKubeconfig = path.join(tmp, "watcher.kubeconfig");
            writeKubeconfig(watcherKubeconfig, { ...kube().credentials, cert: undefined, key: undefined, token });
            const deploymentName = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.urn.endsWith("::pod-watcher")).outputs.metadata.name;
            const deployment = await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${deploymentName}`);
            const watcher = await runContainer(kube(), deployment, deployment.spec.template.spec.containers[0].name,
                { name: "pod-watcher-e2e", node: NODE_NAME, ip: "127.0.0.1" }, path.join(tmp, "watcher"),
                { KUBECONFIG: watcherKubeconfig, SENDGRID_API_URL: mail.url });
            try {
                // Ready only once its informer holds the pods: a deletion before that would be missed, as on any restart.
                await watcher.waitForOutput((out) => /"watcher":"health","[^}]*"ready":true/.test(out), "the watcher to be ready", 30_000);
                const [pod] = (await kube().get(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io/name=postgresql`)).items;
                const before = mail.requests.length;
                const deletion = await kube().request("DELETE", `/api/v1/namespaces/${NAMESPACE}/pods/${pod.metadata.name}`,
                    { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 });
                await watcher.waitForOutput((out) => out.includes("\"kind\":\"down\""), "a down alert", 30_000).catch(async (error: Error) => {
                    const pods = (await kube().get(`/api/v1/namespaces/${NAMESPACE}/pods`)).items
                        .map((p: any) => `${p.metadata.name} ${p.metadata.uid} deleting=${p.metadata.deletionTimestamp ?? "-"} ready=${JSON.stringify(p.status.conditions?.find((c: any) => c.type === "Ready")?.status)}`);
                    throw new Error(`${error.message}\ndeleted ${pod.metadata.uid}: answer ${JSON.stringify(deletion?.metadata ?? deletion).slice(0, 300)}\npods now:\n${pods.join("\n")}\nmails: ${mail.requests.length}`);
                });
                // The replacement pod becomes Ready (kwok), which ends the incident with at most a recovery mail.
                await until("a Ready replacement pod", 30_000, async () => {
                    const pods = (await kube().get(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io/name=postgresql`)).items;
                    return pods.some((p: any) => p.metadata.uid !== pod.metadata.uid && p.status.conditions?.some((c: any) => c.type === "Ready" && c.status === "True")) ? true : undefined;
                });
                const downMails = mail.requests.slice(before).filter((r) => /down/i.test(JSON.stringify(r.body.subject)) && !/recover/i.test(JSON.stringify(r.body.subject)));
                assert.strictEqual(downMails.length, 1, `exactly one down alert reached SendGrid; subjects: ${mail.requests.slice(before).map((r) => r.body.subject).join(" | ")}`);
                assert.ok(JSON.stringify(downMails[0].body).includes(pod.metadata.name), "the alert names the deleted pod");
                assert.strictEqual(downMails[0].authorization, `Bearer ${secrets.sendgrid}`, "sent with the stack's SendGrid key from its Secret");
            } finally {
                assert.strictEqual(await watcher.stop(), 0, `the watcher exits 0 on SIGTERM; output:\n${watcher.output().slice(-1500)}`);
            }
        });

        await step("k. the Quick start's `npm run up` of the dev stack on a cluster without a load balancer: a plan, then one clear refusal", async () => {
            // The committed dev stack's config and passphrase (LoadBalancer, no dbHost), as the README's first
            // command runs it; a namespace of its own (the user's cluster may hold `workshop`) that destroy may delete.
            const pulumiCommand = await PulumiCommand.get({ root: ownCluster ? undefined : path.dirname(binDir), skipVersionCheck: true });
            const dev = await LocalWorkspace.createStack({ stackName: "dev", projectName: PROJECT, program },
                { workDir: project, pulumiCommand, envVars: { ...engineEnv, PULUMI_CONFIG_PASSPHRASE: DEV_PASSPHRASE } });
            const namespace = `${NAMESPACE}-dev`;
            await dev.setAllConfig({ [`${PROJECT}:namespace`]: { value: namespace }, [`${PROJECT}:allowDataDeletion`]: { value: "true" } });
            assert.strictEqual((await dev.getConfig(`${PROJECT}:dbPassword`)).value, DB.password, "the dev stack's own secrets");
            assert.strictEqual((await dev.getAllConfig())[`${PROJECT}:dbHost`], undefined, "no dbHost: the program reads the Service's address");
            // The preview first: it reads a Service that does not exist yet, and must show the plan (issue 20).
            const preview = await dev.preview(engineLog("k-up.preview"));
            assert.ok((preview.changeSummary.create ?? 0) > 0, "the first preview plans creates");
            const started = Date.now();
            const failure = await dev.up(engineLog("k-up")).then(() => undefined, (error: Error) => error);
            const seconds = (Date.now() - started) / 1000;
            const service = await kube().get(`/api/v1/namespaces/${namespace}/services/postgres`);
            if (ownCluster && service.status?.loadBalancer?.ingress?.length) {
                // A cluster of the user's with a load-balancer controller: the rule under test does not apply.
                console.log(`      (this cluster gave the Service an address; up ${failure ? "failed" : "succeeded"} after ${seconds.toFixed(1)} s)`);
            } else {
                assert.ok(failure, "up fails when no address can come");
                const printed = assertOneRefusal(failure, new RegExp(`^the LoadBalancer Service ${namespace}/postgres has no address after \\d+ s and no load-balancer ` +
                    `controller .*port-forward svc/postgres 15432:5432.*dbHost 127\\.0\\.0\\.1.*dbPort 15432.*npm run up\` again$`));
                assert.ok(seconds >= NO_CONTROLLER_SECONDS && seconds < 3 * NO_CONTROLLER_SECONDS,
                    `up failed after ${seconds.toFixed(1)} s: the ${NO_CONTROLLER_SECONDS} s window, not the provider's 10 minutes`);
                console.log(`      (preview planned ${preview.changeSummary.create} creates; up failed after ${seconds.toFixed(1)} s with ${printed})`);
            }
            await dev.destroy(engineLog("k-destroy"));
            assert.strictEqual(await kube().find(`/api/v1/namespaces/${namespace}`), undefined, "its namespace is gone");
            await dev.workspace.removeStack("dev");
        });

        await step("l. a stack deployed by the program before the layout move: this program's preview keeps every URN (no create, no delete)", async () => {
            // That commit's program, bundles built from its own sources, as its user would have run it.
            const before = path.join(tmp, "project-before-layout");
            fs.mkdirSync(before);
            await run("bash", ["-c", `git -C "${ROOT}" archive ${BEFORE_LAYOUT} | tar -x -C "${before}"`]);
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(before, "node_modules"));
            await run(process.execPath, ["scripts/build-alerting.mjs"], { cwd: before });
            const name = "before-layout";
            // Its own namespace, schema and roles beside stack e2e's, in the same database.
            const old = await newStack(name, { namespace: `${NAMESPACE}-moved`, allowedCidrs: "0.0.0.0/0", dbHost: "127.0.0.1", dbPort: String(pgPort),
                schemaName: "moved", appUser: "moved_app", backupUser: "moved_backup", allowDataDeletion: "true" }, programIn(before));
            assert.strictEqual((await update(old, "l-before-up")).up.summary.result, "succeeded");
            const now = await LocalWorkspace.selectStack({ stackName: name, projectName: PROJECT, program }, { workDir: project, pulumiCommand: old.workspace.pulumiCommand, envVars: engineEnv });
            const steps: { op: string; urn: string }[] = [];
            const preview = await now.preview({ ...engineLog("l-after.preview"), onEvent: (event) => {
                const metadata = event.resourcePreEvent?.metadata;
                if (metadata) {
                    steps.push({ op: metadata.op, urn: metadata.urn });
                }
            } });
            // A moved URN shows as a create and a delete; a replacement keeps its URN (an immutable ConfigMap whose content changed).
            const moved = steps.filter((step) => step.op === "create" || step.op === "delete").map((step) => `${step.op} ${step.urn}`);
            assert.deepStrictEqual(moved, [], "no resource is created or deleted: every URN is kept");
            const named = (op: string) => [...new Set(steps.filter((step) => step.op === op).map((step) => step.urn.split("::").pop()))].join(", ") || "none";
            console.log(`      (${preview.changeSummary.same ?? 0} the same; changed since by later commits: updated ${named("update")}; replaced ${named("replace")})`);
            await now.destroy(engineLog("l-destroy"));
            await now.workspace.removeStack(name);
        });

        await step("e. in-place config change (password, image tag, resources, service type): the claim and the rows stay", async () => {
            const claim = await pvcUid();
            const rows = await attendeeCount();
            const resources = await stackResources();
            const uidOf = (type: string, suffix: string) => resources.find((r) => r.type === type && r.urn.endsWith(suffix)).outputs.metadata.uid;
            const deploymentUid = uidOf("kubernetes:apps/v1:Deployment", "::postgres");
            const serviceUid = uidOf("kubernetes:core/v1:Service", "::postgres");
            // kwok runs no postStart hook: apply the new password to the stand-in as the hook would in the pod.
            await sql(superuser(dbPassword), `ALTER ROLE ${DB.user} WITH PASSWORD '${secrets.newDb}'`);
            dbPassword = secrets.newDb;
            await (stack as Stack).setAllConfig({
                [`${PROJECT}:dbPassword`]: { value: secrets.newDb, secret: true },
                [`${PROJECT}:image`]: { value: "postgres:18.1-trixie" },
                [`${PROJECT}:cpuRequest`]: { value: "300m" },
                [`${PROJECT}:memoryLimit`]: { value: "768Mi" },
                [`${PROJECT}:serviceType`]: { value: "NodePort" },
            });
            const { up } = await update(stack as Stack, "e-up");
            assert.strictEqual(up.summary.result, "succeeded");
            assert.deepStrictEqual(await pvcUid(), claim, "the claims keep their uids");
            assert.strictEqual(await attendeeCount(), rows, "the rows are still there");
            const deployment = await kube().get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/postgres`);
            assert.strictEqual(deployment.metadata.uid, deploymentUid, "the Deployment was updated in place");
            assert.strictEqual(deployment.spec.template.spec.containers[0].image, "postgres:18.1-trixie");
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

        await step("h. destroy keeps the namespace, the claim and the tables; up reuses them; allowDataDeletion removes all", async () => {
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
            assert.deepStrictEqual(left, [], "nothing else of the stack is left in the namespace");
            assert.strictEqual(await attendeeCount(), rows, "the tables and their rows are kept");
            assert.deepStrictEqual(await sql(superuser(dbPassword), "SELECT rolname FROM pg_roles WHERE rolname IN ($1, 'workshop_backup')", [APP_USER]), [],
                "the application and backup roles are dropped");

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
            assert.deepStrictEqual(await pvcUid(), claim, "the next up reuses the same claims");
            assert.strictEqual(await namespaceUid(), namespace, "and the same namespace");
            assert.strictEqual(await attendeeCount(), rows, "with its rows");

            await (stack as Stack).setConfig(`${PROJECT}:allowDataDeletion`, { value: "true" });
            await update(stack as Stack, "h-up-deletion");
            await (stack as Stack).destroy(engineLog("h-destroy-all"));
            assert.strictEqual(await kube().find(`/api/v1/namespaces/${NAMESPACE}`), undefined, "the namespace is gone");
            assert.deepStrictEqual(await sql(superuser(dbPassword), "SELECT 1 FROM pg_namespace WHERE nspname = $1", [SCHEMA]), [], "the schema is dropped");
            await (stack as Stack).workspace.removeStack(STACK);
        });
    } finally {
        await step("cleanup: every process stopped, no listener left", async () => {
            const killed = await processes.stopAll();
            await postgres?.stop();
            await mail.close();
            assert.deepStrictEqual(killed, [], "every process stopped on SIGTERM");
            assert.deepStrictEqual(processes.running(), []);
            const open: number[] = [];
            for (const port of [...allocatedPorts, pgPort, Number(new URL(mail.url).port)].filter((p) => p > 0)) {
                if (await listening(port)) {
                    open.push(port);
                }
            }
            assert.deepStrictEqual(open, [], "no listener left on 127.0.0.1");
            const left = [...processesMentioning(tmp), ...(ownCluster || binDir === "" ? [] : processesMentioning(binDir))];
            assert.deepStrictEqual(left, [], "no process of the run is left (engine plugins included)");
        }, true);
    }
    const { allPassed, seconds, closing } = tally();
    console.log(`\ne2e wall time ${seconds} s; ${leaveRunDir(tmp, allPassed)}`);
    console.log(closing);
    return allPassed ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
    console.error(error);
    process.exit(1);
});

import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LoadBalancerObservation, loadBalancerVerdict, NO_CONTROLLER_SECONDS } from "../kube/loadBalancer";
import { PROJECT } from "../config/settings";
import { devStack } from "../testing/devStack";
import { RuntimeRun, runUnderLanguageRuntime } from "../testing/languageRuntime";
import { staticCluster, StaticCluster } from "../testing/staticCluster";

const PROGRAM = "testing/programWithCluster.ts";
const COMPONENT = "urn:pulumi:dev::workshop-postgres::workshop:database:PostgresInstance::postgres";
const SERVICE = { namespace: "workshop", name: "postgres" };

function failure(seen: LoadBalancerObservation): string {
    const verdict = loadBalancerVerdict(SERVICE, seen);
    assert.ok(verdict.kind === "fail");
    return verdict.message;
}

interface Row {
    readonly what: string;
    readonly preview: boolean;
    /** Stack config on top of the dev stack's (keys without the project prefix). */
    readonly config?: Record<string, string>;
    /** The program's cluster reads: answers, or a loopback API answering every read with this status. */
    readonly cluster: { namespace?: object; claims?: Record<string, object>; loadBalancer?: LoadBalancerObservation | null } | 403 | 404 | "no kubeconfig";
    /** The one error printed (a RegExp must match it whole) and the resource it is shown under; none when undefined. */
    readonly printed?: { readonly message: string | RegExp; readonly urn: string };
}

const ROWS: Row[] = [
    { what: "nothing to refuse: the first preview on a cluster that holds nothing yet", preview: true, cluster: 404 },
    {
        what: "a setting", preview: true, config: { storageSize: "10 GB" }, cluster: {},
        printed: { message: `invalid stack configuration:\n  - ${PROJECT}:storageSize: expected a Kubernetes storage quantity such as 1Gi or 500Mi (in bytes, with a suffix Ki, Mi, Gi, Ti or k, M, G, T); got "10 GB"`, urn: "" },
    },
    {
        what: "a namespace made by hand", preview: true, cluster: { namespace: {} },
        printed: { message: /^Namespace workshop already exists and was not created by this program .* kubectl annotate namespace workshop --overwrite workshop-postgres\/stack=organization\/workshop-postgres\/dev$/, urn: COMPONENT },
    },
    {
        what: "a claim of another stack", preview: true, cluster: { claims: { "postgres-data": { "workshop-postgres/stack": "acme/workshop-postgres/prod" } } },
        printed: { message: /^PersistentVolumeClaim workshop\/postgres-data already exists and belongs to stack acme\/workshop-postgres\/prod; stack organization\/workshop-postgres\/dev will not take it over\. .*=organization\/workshop-postgres\/dev$/, urn: COMPONENT },
    },
    {
        what: "no load-balancer controller (the 20-second rule)", preview: false,
        // The stand-in monitor issues no certificate (a resource's outputs are its inputs), so the update runs without TLS.
        config: { serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24", tls: "false" },
        cluster: { loadBalancer: { ageSeconds: NO_CONTROLLER_SECONDS + 1, ingress: [], events: [] } },
        printed: { message: failure({ ageSeconds: NO_CONTROLLER_SECONDS + 1, ingress: [], events: [] }), urn: COMPONENT },
    },
    {
        what: "a cluster that refuses the program's reads", preview: true, cluster: 403,
        // The loopback API's kubeconfig carries no credential, so the API reads the request as system:anonymous.
        printed: { message: /^the cluster of context "test" at http:\/\/127\.0\.0\.1:\d+ took the program's read of namespace workshop as system:anonymous, so it accepted no credential of user "nobody" \(HTTP 403: namespaces "workshop" is forbidden: User "system:anonymous" cannot get resource "namespaces"\); log in again .*, then check with `kubectl auth whoami`$/, urn: "" },
    },
    {
        what: "a laptop that has never had a cluster (no KUBECONFIG, no ~/.kube/config)", preview: true, cluster: "no kubeconfig",
        printed: { message: /^no kubeconfig: KUBECONFIG is not set and \/\S+\/\.kube\/config does not exist, so there is no cluster to deploy to; start a local one with `kind create cluster` or `minikube start` .*; then check with `kubectl config current-context`$/, urn: "" },
    },
];

/** Runs `work` once fewer than `slots` others are running. */
function limiter(slots: number): <T>(work: () => Promise<T>) => Promise<T> {
    let running = 0;
    const waiting: (() => void)[] = [];
    return async (work) => {
        while (running >= slots) {
            await new Promise<void>((resolve) => waiting.push(resolve));
        }
        running += 1;
        try {
            return await work();
        } finally {
            running -= 1;
            waiting.shift()?.();
        }
    };
}

async function runRow(row: Row): Promise<RuntimeRun> {
    const { config, secretKeys } = devStack();
    let api: StaticCluster | undefined;
    const full: Record<string, string> = Object.fromEntries(Object.entries({ ...config, ...row.config }).map(([key, value]) => [`${PROJECT}:${key}`, value]));
    const env: Record<string, string> = {};
    let home: string | undefined;
    if (row.cluster === "no kubeconfig") {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "no-kubeconfig-"));
        Object.assign(env, { HOME: home, KUBECONFIG: "" });
    } else if (typeof row.cluster === "number") {
        api = await staticCluster(row.cluster);
        full["kubernetes:kubeconfig"] = api.kubeconfig;
    } else {
        env.WORKSHOP_TEST_CLUSTER = JSON.stringify(row.cluster);
    }
    try {
        return await runUnderLanguageRuntime(PROGRAM, full, { preview: row.preview, secretKeys: secretKeys.map((key) => `${PROJECT}:${key}`), env });
    } finally {
        await api?.close();
        if (home) {
            fs.rmSync(home, { recursive: true, force: true });
        }
    }
}

describe("how a refusal is printed, by the language runtime that `npm run up` and `npm run preview` use", function () {
    // One process per row, each loading the SDK and the program: about 3 s each, a few at a time.
    this.timeout(90_000);
    const runs = new Map<Row, Promise<RuntimeRun>>();

    before(() => {
        const limit = limiter(3);
        for (const row of ROWS) {
            const run = limit(() => runRow(row));
            run.catch(() => undefined);
            runs.set(row, run);
        }
    });

    for (const row of ROWS) {
        it(`${row.what}: ${row.printed ? "one error, the message alone" : "no error"}`, async () => {
            const run = await runs.get(row) as RuntimeRun;
            const context = `log: ${JSON.stringify(run.log, null, 1)}\nstderr: ${run.stderr}`;
            if (!row.printed) {
                assert.deepStrictEqual(run.errors, [], context);
                assert.strictEqual(run.exitCode, 0, context);
                return;
            }
            assert.strictEqual(run.errors.length, 1, context);
            const [printed] = run.errors;
            if (typeof row.printed.message === "string") {
                assert.strictEqual(printed.message, row.printed.message);
            } else {
                assert.match(printed.message, row.printed.message);
            }
            assert.strictEqual(printed.urn, row.printed.urn, "shown under the resource that refuses, or the program");
            // 32: the runtime has printed the error for the user, and the language host adds nothing.
            assert.strictEqual(run.exitCode, 32, context);
            assert.doesNotMatch(run.stderr + printed.message, /error serializing property|unhandled exception|^\s+at /im, context);
        });
    }
});

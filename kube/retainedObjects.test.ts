import * as assert from "assert";
import { adoptionProblem, OWNER_ANNOTATION } from "./adoption";
import { LOAD_BALANCER_TIMEOUT_SECONDS, loadBalancerVerdict, NO_CONTROLLER_SECONDS } from "./loadBalancer";
import { devStack } from "../testing/devStack";
import { EMPTY_CLUSTER, runProgram } from "../testing/program";

const OWNER = "organization/workshop-postgres/dev";
const CLAIM = { kind: "PersistentVolumeClaim", id: "workshop/postgres-data", alternative: "Choose another namespace" };
const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const NAMESPACE = "kubernetes:core/v1:Namespace";

describe("objects that destroy keeps are taken over again only by the stack that created them", () => {
    it("goes ahead when the object does not exist or names this stack", () => {
        assert.strictEqual(adoptionProblem(CLAIM, undefined, OWNER), undefined);
        assert.strictEqual(adoptionProblem(CLAIM, { [OWNER_ANNOTATION]: OWNER, other: "x" }, OWNER), undefined);
    });

    it("refuses an object of another stack, naming it, the owner and the explicit way to adopt it", () => {
        const problem = adoptionProblem(CLAIM, { [OWNER_ANNOTATION]: "acme/workshop-postgres/prod" }, OWNER);
        assert.match(problem ?? "", /^PersistentVolumeClaim workshop\/postgres-data already exists and belongs to stack acme\/workshop-postgres\/prod; /);
        assert.match(problem ?? "", /Choose another namespace/);
        assert.match(problem ?? "", /kubectl annotate persistentvolumeclaim -n workshop postgres-data --overwrite workshop-postgres\/stack=organization\/workshop-postgres\/dev$/);
    });

    it("refuses an object that nobody marked, such as a namespace made by hand", () => {
        const problem = adoptionProblem({ kind: "Namespace", id: "workshop", alternative: "Use createNamespace false" }, {}, OWNER);
        assert.match(problem ?? "", /Namespace workshop already exists and was not created by this program \(it has no workshop-postgres\/stack annotation\)/);
        assert.match(problem ?? "", /kubectl annotate namespace workshop --overwrite/);
    });

    describe("in the program", () => {
        const { config, secretKeys } = devStack();

        it("marks the namespace and the claims (data and backups) with the stack, and only they may take over existing objects", async () => {
            const run = await runProgram(config, secretKeys);
            const retained = [...run.ofType(PVC), ...run.ofType(NAMESPACE)];
            assert.strictEqual(retained.length, 3);
            for (const object of retained) {
                assert.strictEqual(object.inputs.metadata.annotations[OWNER_ANNOTATION], OWNER, object.name);
            }
            const upserting = run.ofType("pulumi:providers:kubernetes").filter((p) => p.inputs.upsertExistingObjects === "true" || p.inputs.upsertExistingObjects === true);
            assert.strictEqual(upserting.length, 1);
            const provider = upserting[0].resource as any;
            const users = run.resources.filter((r) => r.opts.provider === provider).map((r) => r.type).sort();
            assert.deepStrictEqual(users, [NAMESPACE, PVC, PVC].sort(), "nothing else is created through the upserting provider");
        });

        it("stops before creating anything when the claim belongs to another stack", async () => {
            const foreign = { ...EMPTY_CLUSTER, claimAnnotations: async () => ({ [OWNER_ANNOTATION]: "acme/workshop-postgres/prod" }) };
            await assert.rejects(runProgram(config, secretKeys, { cluster: foreign }), /postgres-data already exists and belongs to stack acme\/workshop-postgres\/prod/);
        });

        it("stops when the namespace exists but was made by someone else", async () => {
            const foreign = { ...EMPTY_CLUSTER, namespaceAnnotations: async () => ({}) };
            await assert.rejects(runProgram(config, secretKeys, { cluster: foreign }), /Namespace workshop already exists and was not created by this program/);
        });

        it("does not let the provider wait for a load balancer address; the program waits, bounded", async () => {
            const run = await runProgram({ ...config, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24" }, secretKeys);
            assert.strictEqual(run.one("kubernetes:core/v1:Service").inputs.metadata.annotations["pulumi.com/skipAwait"], "true");
            const nodePort = await runProgram({ ...config, serviceType: "NodePort", dbHost: "192.0.2.7" }, secretKeys);
            assert.strictEqual(nodePort.one("kubernetes:core/v1:Service").inputs.metadata.annotations, undefined, "other types keep the provider's await");
        });
    });
});

describe("the wait for a load balancer address", () => {
    const service = { namespace: "workshop", name: "postgres" };
    const cases: [string, Parameters<typeof loadBalancerVerdict>[1], string][] = [
        ["an address is there", { ageSeconds: 3, ingress: [{ ip: "203.0.113.9" }], events: [] }, "ready 203.0.113.9"],
        ["a hostname (AWS) is there", { ageSeconds: 3, ingress: [{ hostname: "lb.example.com" }], events: [] }, "ready lb.example.com"],
        ["a new Service, nobody answered yet", { ageSeconds: NO_CONTROLLER_SECONDS - 1, ingress: [], events: [] }, "wait"],
        ["silence past the window: no controller", { ageSeconds: NO_CONTROLLER_SECONDS, ingress: [], events: [] }, "fail no load-balancer controller"],
        ["a controller at work", { ageSeconds: 120, ingress: [], events: [{ type: "Normal", reason: "EnsuringLoadBalancer" }] }, "wait"],
        ["a controller that never finishes", { ageSeconds: LOAD_BALANCER_TIMEOUT_SECONDS, ingress: [], events: [{ type: "Warning", reason: "SyncLoadBalancerFailed", message: "quota" }] },
            "fail SyncLoadBalancerFailed: quota"],
    ];
    for (const [what, seen, expected] of cases) {
        it(`${what}: ${expected.split(" ")[0]}`, () => {
            const verdict = loadBalancerVerdict(service, seen);
            const [kind, ...rest] = expected.split(" ");
            assert.strictEqual(verdict.kind, kind);
            if (verdict.kind === "ready") {
                assert.strictEqual(verdict.host, rest.join(" "));
            }
            if (verdict.kind === "fail") {
                assert.ok(verdict.message.includes(rest.join(" ")), verdict.message);
                assert.match(verdict.message, /workshop-postgres:(dbHost|serviceType)/, "names the setting that goes around it");
            }
        });
    }

    it("names the commands that get a cluster without a controller going", () => {
        const verdict = loadBalancerVerdict(service, { ageSeconds: 25, ingress: [], events: [] });
        assert.ok(verdict.kind === "fail");
        for (const command of ["minikube tunnel", "cloud-provider-kind", "MetalLB", "config rm workshop-postgres:serviceType", "tunnel over the API server", "npm run up"]) {
            assert.ok(verdict.message.includes(command), command);
        }
    });
});

import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { devStack } from "../testing/devStack";
import { EMPTY_CLUSTER, runProgram } from "../testing/program";
import { staticCluster } from "../testing/staticCluster";

describe("the first preview of the dev stack, on a cluster that holds none of it yet", () => {
    const { config, secretKeys } = devStack();

    it("knows the tunnel's end before anything exists, and reads no Service", async () => {
        const cluster = await staticCluster(404);
        try {
            const run = await runProgram({ ...config, "kubernetes:kubeconfig": cluster.kubeconfig }, secretKeys, { preview: true, cluster: "kubeconfig" });
            assert.ok(!cluster.requests.some((request) => request.includes("/services/")), cluster.requests.join("\n"));
            const provider = run.one("pulumi:providers:postgresql").rawInputs;
            assert.deepStrictEqual([provider.host, String(provider.port)], ["127.0.0.1", "15432"], "the same provider settings on every run");
        } finally {
            await cluster.close();
        }
    });

    it("with a LoadBalancer: reads the Service it has not created yet, gets a 404, and plans with the address unknown", async () => {
        const cluster = await staticCluster(404);
        try {
            const run = await runProgram({ ...config, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24", "kubernetes:kubeconfig": cluster.kubeconfig },
                secretKeys, { preview: true, cluster: "kubeconfig" });
            assert.ok(cluster.requests.includes("GET /api/v1/namespaces/workshop/services/postgres"), cluster.requests.join("\n"));
            const provider = run.one("pulumi:providers:postgresql").rawInputs;
            assert.ok(pulumi.isUnknown(provider.host), "the database's address is unknown, as any value only the update makes");
            assert.ok(pulumi.isUnknown(provider.port));
            // The plan goes on past the address: the Service, and the database objects that wait for it.
            run.one("kubernetes:core/v1:Service");
            run.named("postgresql:index/role:Role", "workshop-app-role");
            run.named("pulumi-nodejs:dynamic:Resource", "workshop-sql");
        } finally {
            await cluster.close();
        }
    });

    it("with a LoadBalancer: the update, which has created the Service, refuses when the program's cluster does not hold it", async () => {
        const elsewhere = { ...EMPTY_CLUSTER, loadBalancer: async () => undefined };
        await assert.rejects(runProgram({ ...config, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24" }, secretKeys, { cluster: elsewhere }), (error: Error) => pulumi.ResourceError.isInstance(error) &&
            error.hideStack === true && /^the Service workshop\/postgres that this update created is not in the cluster the program reads; /.test(error.message));
    });
});

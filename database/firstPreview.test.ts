import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { devStack } from "../testing/devStack";
import { EMPTY_CLUSTER, runProgram } from "../testing/program";
import { staticCluster } from "../testing/staticCluster";

describe("the first preview of the dev stack, on a cluster that holds none of it yet", () => {
    const { config, secretKeys } = devStack();

    it("reads the LoadBalancer Service it has not created yet, gets a 404, and plans with the address unknown", async () => {
        const cluster = await staticCluster(404);
        try {
            const run = await runProgram({ ...config, "kubernetes:kubeconfig": cluster.kubeconfig }, secretKeys, { preview: true, cluster: "kubeconfig" });
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

    it("the update, which has created the Service, refuses when the program's cluster does not hold it", async () => {
        const elsewhere = { ...EMPTY_CLUSTER, loadBalancer: async () => undefined };
        await assert.rejects(runProgram(config, secretKeys, { cluster: elsewhere }), (error: Error) => pulumi.ResourceError.isInstance(error) &&
            error.hideStack === true && /^the Service workshop\/postgres that this update created is not in the cluster the program reads; /.test(error.message));
    });
});

/**
 * index.ts for runs under the language runtime (see languageRuntime.ts), with the program's own
 * cluster reads answered from WORKSHOP_TEST_CLUSTER (JSON: the namespace's annotations, each claim's
 * by name, the Service's observation; absent or null for "no such object"), from a local cluster; without it
 * they go to the cluster the stack's kubernetes config names, as in `npm run up`.
 */
import { useClusterReader } from "../kube/clusterReader";
import { useKubeContext } from "../kube/localCluster";
import { LOCAL_CONTEXT } from "./program";

const answers = process.env.WORKSHOP_TEST_CLUSTER;
if (answers !== undefined) {
    const { namespace, claims, loadBalancer } = JSON.parse(answers);
    useClusterReader({
        namespaceAnnotations: async () => namespace ?? undefined,
        claimAnnotations: async (_namespace, name) => claims?.[name] ?? undefined,
        loadBalancer: async () => loadBalancer ?? undefined,
    });
    // The answers stand for a cluster of this machine's, as the dev stack needs.
    useKubeContext(LOCAL_CONTEXT);
}
module.exports = require("../index");

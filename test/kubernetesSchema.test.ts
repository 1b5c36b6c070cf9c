import * as assert from "assert";
import { SENDGRID_KEY_ENV } from "../config/alerts";
import { restoreConfirmation, restorePod, RestoreTarget } from "../backup/backupSpec";
import { devStack } from "../testing/devStack";
import { runProgram, valueOf } from "../testing/program";

interface Model {
    validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** kubernetes-models is ESM-only; the module for "apps/v1" is kubernetes-models/apps/v1, for "core/v1" kubernetes-models/v1. */
async function modelFor(type: string): Promise<ModelClass> {
    const [, groupVersion, kind] = type.split(":");
    const modulePath = groupVersion.startsWith("core/") ? groupVersion.slice("core/".length) : groupVersion;
    const module = (await import(`kubernetes-models/${modulePath}`)) as Record<string, ModelClass>;
    const model = module[kind];
    assert.ok(model, `no schema model for ${type}`);
    return model;
}

const SENDGRID_KEY = "SG.schemaTestKey000000000.schema-test-secret-never-printed-xxxxxxxxxx";

const VARIANTS: Record<string, Record<string, string>> = {
    "the dev stack": {},
    "a NodePort Service with a fixed port in an existing namespace": {
        serviceType: "NodePort", nodePort: "30432", dbHost: "127.0.0.1", createNamespace: "false", namespace: "apps",
    },
    "a ClusterIP Service reached through a port-forward, with a StorageClass and allowed namespaces": {
        serviceType: "ClusterIP", dbHost: "127.0.0.1", dbPort: "15432", storageClass: "fast-ssd", allowedNamespaces: "apps,jobs",
    },
    "the watcher turned off and SendGrid configured": { watcherEnabled: "false" },
    "backups every 6 hours on a StorageClass of their own": { backupSchedule: "0 */6 * * *", backupStorageClass: "standard", backupKeep: "3" },
};

describe("every Kubernetes object validates against the Kubernetes OpenAPI schema", () => {
    for (const [variant, changes] of Object.entries(VARIANTS)) {
        it(variant, async () => {
            const { config, secretKeys } = devStack();
            // The dev stack's secrets are public: a SendGrid key comes from the environment of the deployment.
            const env: Record<string, string> = variant.includes("SendGrid") ? { [SENDGRID_KEY_ENV]: SENDGRID_KEY } : {};
            const run = await runProgram({ ...config, ...changes }, secretKeys, { env });
            const objects = run.resources.filter((resource) => resource.type.startsWith("kubernetes:"));
            assert.ok(objects.length >= 6, `only ${objects.length} Kubernetes objects`);
            for (const object of objects) {
                const Model = await modelFor(object.type);
                assert.doesNotThrow(() => new Model(object.inputs).validate(), `${object.type} ${object.name}`);
            }
        });
    }

    it("the restore pod that npm run restore creates", async () => {
        const { config, secretKeys } = devStack();
        const target = await valueOf((await runProgram(config, secretKeys)).outputs.backupRestore) as RestoreTarget;
        const Pod = await modelFor("kubernetes:core/v1:Pod");
        assert.doesNotThrow(() => new Pod(restorePod(target, ["restore", "WORKSHOP-20261124T021500Z", restoreConfirmation("WORKSHOP")])).validate());
    });

    it("the check catches an invalid object", async () => {
        const Deployment = await modelFor("kubernetes:apps/v1:Deployment");
        assert.throws(() => new Deployment({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { replicas: "one" } }).validate());
    });
});

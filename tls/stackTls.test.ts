/** The stack's TLS objects under mocks: which exist, what they hold, what stays secret. */
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { CA_MOUNT } from "../backup/backupSpec";
import { CRASH_ARGS } from "../database/postgresSpec";
import { PG_HBA, tlsServerArgs } from "../database/tlsSpec";
import { devStack } from "../testing/devStack";
import { ProgramRun, RecordedResource, runProgram, secretPaths, valueOf } from "../testing/program";
import { testCa, testServerCertificate } from "../testing/tlsFixture";
import { serverNames } from "./certificates";

const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
const SECRET = "kubernetes:core/v1:Secret";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

function generatedName(resource: RecordedResource): string {
    return resource.inputs.metadata?.name ?? `${resource.name}-0a1b2c3d`;
}

describe("TLS in the dev stack under mocks", () => {
    let run: ProgramRun;
    const { config, secretKeys } = devStack();

    before(async () => {
        run = await runProgram(config, secretKeys);
    });

    it("creates one CA, keeping its key secret, and exports its certificate in the open", async () => {
        const ca = run.named(DYNAMIC, "stack-ca");
        assert.strictEqual(ca.inputs.kind, "ca");
        assert.deepStrictEqual(ca.opts.additionalSecretOutputs, ["privateKey"]);
        assert.strictEqual(await valueOf(run.outputs.caCertificate), testCa().certificate);
        assert.strictEqual(await pulumi.isSecret(run.outputs.caCertificate), false);
    });

    it("has the CA sign a server certificate for the tunnel's end and the Service's names, the CA's key passed as a secret", () => {
        const server = run.named(DYNAMIC, "postgres-server-certificate");
        assert.deepStrictEqual(server.inputs.names, serverNames("postgres", "workshop"));
        assert.deepStrictEqual(server.inputs.ca, testCa());
        assert.deepStrictEqual(secretPaths(server.rawInputs), ["ca"]);
        assert.deepStrictEqual(server.opts.additionalSecretOutputs, ["ca", "privateKey"]);
        assert.strictEqual(server.opts.parent, run.one("workshop:database:PostgresInstance").resource);
    });

    it("mounts the certificate from a TLS Secret, and the stack's pg_hba.conf from a ConfigMap, into the PostgreSQL container", () => {
        const secret = run.named(SECRET, "postgres-tls");
        assert.strictEqual(secret.inputs.type, "kubernetes.io/tls");
        assert.deepStrictEqual(secret.inputs.stringData, { "tls.crt": testServerCertificate(serverNames("postgres", "workshop")).certificate,
            "tls.key": testServerCertificate(serverNames("postgres", "workshop")).privateKey });
        assert.deepStrictEqual(secretPaths(secret.rawInputs), ["stringData"]);
        const hba = run.named(CONFIG_MAP, "postgres-hba");
        assert.deepStrictEqual(hba.inputs.data, { "pg_hba.conf": PG_HBA });
        const pod = run.deployment("postgres").inputs.spec.template.spec;
        const postgres = pod.containers.find((container: any) => container.name === "postgres");
        assert.deepStrictEqual(postgres.args, ["docker-entrypoint.sh", "postgres", ...CRASH_ARGS, ...tlsServerArgs()]);
        assert.strictEqual(pod.volumes.find((volume: any) => volume.name === "tls").secret.secretName, generatedName(secret));
        assert.strictEqual(pod.volumes.find((volume: any) => volume.name === "hba").configMap.name, generatedName(hba));
        for (const container of pod.containers.filter((c: any) => c.name !== "postgres")) {
            assert.ok(!(container.volumeMounts ?? []).some((mount: any) => mount.name === "tls"), `${container.name} does not mount the key`);
        }
    });

    it("gives in-cluster clients the CA and the name to verify, and the backup Job verifies the server with them", async () => {
        const clientCa = run.named(CONFIG_MAP, "postgres-ca");
        assert.strictEqual(clientCa.inputs.metadata.name, "postgres-ca", "a fixed name, for clients to mount");
        assert.deepStrictEqual(clientCa.inputs.data, { "ca.crt": testCa().certificate, host: "postgres.workshop.svc.cluster.local" });
        const settings = run.named(CONFIG_MAP, "postgres-backup-settings").inputs.data;
        assert.strictEqual(settings.PGHOST, "postgres.workshop.svc.cluster.local");
        assert.strictEqual(settings.PGSSLMODE, "verify-full");
        assert.strictEqual(settings.PGSSLROOTCERT, `${CA_MOUNT}/ca.crt`);
        const job = run.one("kubernetes:batch/v1:CronJob").inputs.spec.jobTemplate.spec.template.spec;
        assert.deepStrictEqual(job.volumes.find((volume: any) => volume.name === "ca").configMap.name, "postgres-ca");
        assert.ok(job.containers[0].volumeMounts.some((mount: any) => mount.name === "ca" && mount.mountPath === CA_MOUNT && mount.readOnly));
        assert.strictEqual((await valueOf(run.outputs.backupRestore) as any).caConfigMap, "postgres-ca", "the restore pod mounts it too");
    });

    it("with tls false creates none of it, keeps the server's arguments as they were, connects without TLS, and warns", async () => {
        const plaintext = await runProgram({ ...config, tls: "false" }, secretKeys);
        assert.deepStrictEqual(plaintext.ofType(DYNAMIC).map((resource) => resource.name), ["workshop-sql"]);
        assert.ok(!plaintext.ofType(SECRET).some((secret) => secret.inputs.type === "kubernetes.io/tls"));
        assert.ok(!plaintext.ofType(CONFIG_MAP).some((map) => ["postgres-hba", "postgres-ca"].includes(map.name)));
        const postgres = plaintext.deployment("postgres").inputs.spec.template.spec.containers.find((c: any) => c.name === "postgres");
        assert.deepStrictEqual(postgres.args, ["docker-entrypoint.sh", "postgres", ...CRASH_ARGS]);
        const settings = plaintext.named(CONFIG_MAP, "postgres-backup-settings").inputs.data;
        assert.strictEqual(settings.PGSSLMODE, undefined);
        assert.ok(plaintext.warnings.some((warning) => warning.startsWith("tls is false: ")), plaintext.warnings.join("\n"));
        const provider = plaintext.one("pulumi:providers:postgresql").inputs;
        assert.strictEqual(provider.sslmode, "disable");
        assert.strictEqual(provider.sslrootcert, undefined);
        assert.strictEqual(plaintext.named(DYNAMIC, "workshop-sql").inputs.connection.ca, undefined);
        assert.strictEqual(await valueOf(plaintext.outputs.caCertificate), undefined);
        assert.ok(!run.warnings.some((warning) => warning.startsWith("tls is false")));
    });
});

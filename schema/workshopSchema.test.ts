import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { devStack } from "../testing/devStack";
import { CA_FILE_ROOT, LOAD_BALANCER_IP, NODE_PORT, ProgramRun, runProgram, secretPaths, valueOf } from "../testing/program";
import { testCa } from "../testing/tlsFixture";

const PROVIDER = "pulumi:providers:postgresql";
const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
const MIGRATIONS = "workshop-sql";

describe("the WORKSHOP schema under mocks", () => {
    let run: ProgramRun;
    const { config, secretKeys } = devStack();

    before(async () => {
        run = await runProgram(config, secretKeys);
    });

    it("points an explicit postgresql provider at the tunnel's fixed end, as the superuser", () => {
        const provider = run.one(PROVIDER).inputs;
        assert.strictEqual(provider.host, "127.0.0.1");
        assert.strictEqual(Number(provider.port), 15432);
        assert.strictEqual(provider.username, "postgres");
        assert.strictEqual(provider.database, "WORKSHOP");
        assert.strictEqual(provider.sslmode, "verify-full");
        assert.strictEqual(provider.sslrootcert, ".workshop-tls/dev/ca.crt", "relative to the project: the same on every machine");
        assert.strictEqual(fs.readFileSync(path.join(CA_FILE_ROOT, provider.sslrootcert), "utf8"), testCa().certificate, "the CA's file is written");
        assert.ok(secretPaths(run.one(PROVIDER).rawInputs).includes("password"), "the provider's password is secret");
    });

    it("creates nothing in the database before the Deployment is ready", () => {
        const provider = run.one(PROVIDER);
        const deployment = run.deployment("postgres");
        assert.ok((provider.opts.dependsOn as unknown[]).includes(deployment.resource), "the provider depends on the Deployment");
        assert.ok(provider.order > deployment.order, "the provider registers after the Deployment");
        for (const resource of run.resources.filter((r) => r.type.startsWith("postgresql:"))) {
            assert.strictEqual(resource.opts.provider, provider.resource, `${resource.type} ${resource.name} uses the explicit provider`);
            assert.ok(resource.order > deployment.order);
        }
    });

    it("creates an application role with a secret password, distinct from the superuser", () => {
        const role = run.named("postgresql:index/role:Role", "workshop-app-role");
        assert.strictEqual(role.inputs.name, "workshop_app");
        assert.strictEqual(role.inputs.login, true);
        assert.strictEqual(role.inputs.password, config.appPassword);
        assert.deepStrictEqual(secretPaths(role.rawInputs), ["password"]);
    });

    it("grants the role usage of the schema and read/write on its tables, now and for new ones", () => {
        const grants = run.ofType("postgresql:index/grant:Grant").map((g) => g.inputs);
        const byType = Object.fromEntries(grants.map((g) => [g.objectType, g]));
        assert.deepStrictEqual(byType.schema.privileges, ["USAGE"]);
        assert.deepStrictEqual([...byType.table.privileges].sort(), ["DELETE", "INSERT", "SELECT", "UPDATE"]);
        const defaults = run.ofType("postgresql:index/defaultPrivileges:DefaultPrivileges").map((d) => d.inputs);
        assert.deepStrictEqual(defaults.map((d) => d.objectType).sort(), ["sequence", "table"]);
        for (const grant of [...grants, ...defaults]) {
            assert.strictEqual(grant.database, "WORKSHOP");
            assert.strictEqual(grant.schema, "workshop");
            assert.strictEqual(grant.role, "workshop_app");
        }
    });

    it("applies sql/ after the schema and its default grants, with the connection as a secret", () => {
        const migrations = run.named(DYNAMIC, MIGRATIONS);
        assert.deepStrictEqual(Object.keys(migrations.inputs.files), ["001_create_attendees.sql", "002_seed_attendees.sql"]);
        assert.strictEqual(migrations.inputs.schema, "workshop");
        assert.deepStrictEqual(secretPaths(migrations.rawInputs), ["connection"]);
        assert.deepStrictEqual(migrations.opts.additionalSecretOutputs, ["connection"]);
        assert.deepStrictEqual({ ...migrations.inputs.connection, password: "…" }, {
            host: "127.0.0.1", port: 15432, user: "postgres", password: "…", database: "WORKSHOP", sslMode: "verify-full", ca: testCa().certificate,
        });
        const dependencies = migrations.opts.dependsOn as unknown[];
        for (const type of ["postgresql:index/defaultPrivileges:DefaultPrivileges"]) {
            for (const resource of run.ofType(type)) {
                assert.ok(dependencies.includes(resource.resource), `waits for ${resource.name}`);
            }
        }
        const schema = run.one("postgresql:index/schema:Schema");
        assert.ok(migrations.order > schema.order);
    });

    it("keeps the schema and its tables on destroy unless allowDataDeletion is true", async () => {
        const schema = run.one("postgresql:index/schema:Schema");
        assert.strictEqual(schema.opts.retainOnDelete, true);
        assert.strictEqual(schema.inputs.dropCascade, false);
        const deletable = (await runProgram({ ...config, allowDataDeletion: "true" }, secretKeys)).one("postgresql:index/schema:Schema");
        assert.strictEqual(deletable.opts.retainOnDelete, false);
        assert.strictEqual(deletable.inputs.dropCascade, true);
    });

    it("preview already knows which files the update would apply", async () => {
        const preview = await runProgram(config, secretKeys, { preview: true });
        assert.deepStrictEqual(Object.keys(preview.named(DYNAMIC, MIGRATIONS).inputs.files), ["001_create_attendees.sql", "002_seed_attendees.sql"]);
    });

    it("exports the files the database records", async () => {
        assert.deepStrictEqual(await valueOf(run.outputs.sqlFilesApplied), ["001_create_attendees.sql", "002_seed_attendees.sql"]);
    });

    it("reaches a NodePort Service on dbHost and the node port, and honours dbPort", async () => {
        const nodePort = await runProgram({ ...config, serviceType: "NodePort", dbHost: "192.0.2.7" }, secretKeys);
        assert.strictEqual(nodePort.one(PROVIDER).inputs.host, "192.0.2.7");
        assert.strictEqual(Number(nodePort.one(PROVIDER).inputs.port), NODE_PORT);
        assert.deepStrictEqual(nodePort.named(DYNAMIC, "postgres-server-certificate").inputs.names.ipAddresses, ["127.0.0.1", "192.0.2.7"],
            "the server's certificate holds dbHost, which verify-full checks");
        const forwarded = await runProgram({ ...config, serviceType: "ClusterIP", dbHost: "127.0.0.1", dbPort: "15432", sslMode: "require" }, secretKeys);
        assert.strictEqual(forwarded.one(PROVIDER).inputs.host, "127.0.0.1");
        assert.strictEqual(Number(forwarded.one(PROVIDER).inputs.port), 15432);
        assert.strictEqual(forwarded.one(PROVIDER).inputs.sslmode, "require");
        assert.strictEqual(forwarded.named(DYNAMIC, MIGRATIONS).inputs.connection.sslMode, "require");
        const published = await runProgram({ ...config, serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24" }, secretKeys);
        assert.strictEqual(published.one(PROVIDER).inputs.host, LOAD_BALANCER_IP, "an opted-in LoadBalancer: its address");
        assert.strictEqual(Number(published.one(PROVIDER).inputs.port), 5432);
    });
});

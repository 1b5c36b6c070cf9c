import * as assert from "assert";
import { ConfigError, ConfigSource, DEFAULTS, parseSettings } from "./settings";

const SECRET_KEYS = ["dbPassword", "appPassword", "backupPassword"];
const VALID: Record<string, string> = {
    dbName: "WORKSHOP",
    alertTo: "ops@example.com",
    alertFrom: "alerts@example.com",
};

/** `values` as plain config, `secrets` as set secrets (their value from `values`, or a usable password). */
function source(values: Record<string, string | undefined>, secrets: readonly string[] = SECRET_KEYS): ConfigSource {
    return {
        get: (key) => (secrets.includes(key) ? undefined : values[key]),
        hasSecret: (key) => secrets.includes(key),
        secret: (key) => (secrets.includes(key) ? values[key] ?? `${key}-value` : undefined),
        keys: () => [...Object.keys(values).filter((key) => values[key] !== undefined), ...secrets],
        env: () => undefined,
    };
}

/** The problems reported for VALID with `changes` applied (undefined deletes a key). */
function problemsWith(changes: Record<string, string | undefined>, secrets?: readonly string[]): readonly string[] {
    const values = { ...VALID, ...changes };
    try {
        parseSettings(source(values, secrets));
    } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        return error.problems;
    }
    return [];
}

function assertOneProblem(changes: Record<string, string | undefined>, expected: RegExp, secrets?: readonly string[]) {
    const problems = problemsWith(changes, secrets);
    assert.strictEqual(problems.length, 1, `expected one problem, got: ${problems.join(" | ")}`);
    assert.match(problems[0], expected);
}

describe("config parsing", () => {
    it("applies the documented defaults", () => {
        const settings = parseSettings(source(VALID));
        assert.strictEqual(settings.namespace, DEFAULTS.namespace);
        assert.strictEqual(settings.dbUser, "postgres");
        assert.strictEqual(settings.image, DEFAULTS.image);
        assert.strictEqual(settings.storageSize, "1Gi");
        assert.strictEqual(settings.storageClass, undefined);
        assert.strictEqual(settings.createNamespace, true);
        assert.strictEqual(settings.allowDataDeletion, false);
        assert.deepStrictEqual(settings.resources, DEFAULTS.resources);
        assert.deepStrictEqual(settings.allowedCidrs, []);
        assert.deepStrictEqual(settings.tls, { enabled: true, sslMode: "verify-full" });
        assert.strictEqual(settings.alert.deadlineSeconds, 20);
        assert.strictEqual(settings.alert.sendgridConfigured, false);
        assert.strictEqual(settings.watcher.enabled, true);
        assert.deepStrictEqual(settings.backup, {
            enabled: true, schedule: "15 2 * * *", keep: 7, storageSize: "2Gi", storageClass: undefined, user: "workshop_backup",
        });
    });

    it("reads lists as structured config (JSON) or comma-separated text", () => {
        const structured = parseSettings(source({ ...VALID, alertTo: "[\"a@example.com\",\"b@example.com\"]", allowedCidrs: "[\"10.0.0.0/8\"]" }));
        assert.deepStrictEqual(structured.alert.to, ["a@example.com", "b@example.com"]);
        assert.deepStrictEqual(structured.allowedCidrs, ["10.0.0.0/8"]);
        const text = parseSettings(source({ ...VALID, alertTo: "a@example.com, b@example.com", allowedCidrs: "10.0.0.0/8,fd00::/8" }));
        assert.deepStrictEqual(text.alert.to, ["a@example.com", "b@example.com"]);
        assert.deepStrictEqual(text.allowedCidrs, ["10.0.0.0/8", "fd00::/8"]);
    });

    it("a missing password names the key and how to set it", () => {
        assertOneProblem({}, /^workshop-postgres:dbPassword: missing; .*pulumi config set --secret dbPassword/, ["appPassword", "backupPassword"]);
    });

    it("a missing database name names the key", () => {
        assertOneProblem({ dbName: undefined }, /^workshop-postgres:dbName: missing; expected the database name/);
    });

    it("a database name that is no identifier is refused", () => {
        assertOneProblem({ dbName: "work shop" }, /^workshop-postgres:dbName: expected a database name.*got "work shop"/);
    });

    it("an invalid namespace name gets the DNS label rule", () => {
        assertOneProblem({ namespace: "Workshop_1" }, /^workshop-postgres:namespace: expected a Kubernetes namespace name.*got "Workshop_1"/);
        assertOneProblem({ namespace: "a".repeat(64) }, /^workshop-postgres:namespace: expected a Kubernetes namespace name: .*at most 63 characters; got "a{40}…" \(64 characters\)$/);
    });

    it("an image with latest or without a tag is refused", () => {
        assertOneProblem({ image: "postgres:latest" }, /^workshop-postgres:image: expected an image with a pinned tag or digest .*not latest; got "postgres:latest"/);
        assertOneProblem({ image: "postgres" }, /^workshop-postgres:image: expected an image with a pinned tag or digest .*it has no tag/);
        assertOneProblem({ image: "registry.local:5000/postgres" }, /^workshop-postgres:image: .*it has no tag/);
        assert.strictEqual(problemsWith({ image: "registry.local:5000/db/postgres:18.1" }).length, 0);
        assert.strictEqual(problemsWith({ image: `postgres@sha256:${"a".repeat(64)}` }).length, 0);
        assertOneProblem({ alertImage: "node:latest" }, /^workshop-postgres:alertImage: .*not latest/);
    });

    it("a bad quantity names the key and an example", () => {
        assertOneProblem({ storageSize: "10 GB" }, /^workshop-postgres:storageSize: expected a Kubernetes storage quantity such as 1Gi.*got "10 GB"/);
        assertOneProblem({ storageSize: "0Gi" }, /^workshop-postgres:storageSize: expected a Kubernetes storage quantity from 512Mi to 64Ti \(.*\); got "0Gi"$/);
        assertOneProblem({ memoryLimit: "1GB" }, /^workshop-postgres:memoryLimit: expected a memory quantity/);
        assertOneProblem({ cpuRequest: "half" }, /^workshop-postgres:cpuRequest: expected a CPU quantity such as 250m/);
    });

    it("a CPU request above its limit is refused, as Kubernetes would refuse the Deployment", () => {
        assertOneProblem({ cpuRequest: "1500m", cpuLimit: "1" }, /^workshop-postgres:cpuRequest: expected a CPU quantity no greater than cpuLimit \(1\); got "1500m"/);
        assertOneProblem({ cpuRequest: "2" }, /^workshop-postgres:cpuRequest: expected a CPU quantity no greater than cpuLimit/);
        assert.strictEqual(problemsWith({ cpuRequest: "1000m", cpuLimit: "1" }).length, 0, "equal is allowed");
        assert.strictEqual(problemsWith({ cpuRequest: "0.5", cpuLimit: "500m" }).length, 0);
    });

    it("a memory request above its limit is refused, as Kubernetes would refuse the Deployment", () => {
        assertOneProblem({ memoryRequest: "1Gi" }, /^workshop-postgres:memoryRequest: expected a memory quantity no greater than memoryLimit \(512Mi\); got "1Gi"/);
        assertOneProblem({ memoryRequest: "600M", memoryLimit: "0.5Gi" }, /^workshop-postgres:memoryRequest: /);
        assert.strictEqual(problemsWith({ memoryRequest: "0.5Gi", memoryLimit: "512Mi" }).length, 0, "equal is allowed");
        assert.strictEqual(problemsWith({ memoryRequest: "500M", memoryLimit: "512Mi" }).length, 0);
    });

    it("a schema name starting with pg_ is refused, as PostgreSQL reserves it", () => {
        assertOneProblem({ schemaName: "pg_workshop" }, /^workshop-postgres:schemaName: expected a schema name that does not start with pg_, which PostgreSQL reserves; got "pg_workshop"/);
        assert.strictEqual(problemsWith({ schemaName: "PG_workshop" }).length, 0, "the name is quoted, so only lower-case pg_ is reserved");
    });

    it("a role name starting with pg_ is refused, as PostgreSQL reserves it", () => {
        assertOneProblem({ appUser: "pg_app" }, /^workshop-postgres:appUser: expected a role name that does not start with pg_, which PostgreSQL reserves; got "pg_app"/);
        assertOneProblem({ dbUser: "pg_admin" }, /^workshop-postgres:dbUser: expected a role name that does not start with pg_/);
    });

    it("a PostgreSQL image older than 15 is refused, since the postStart hook needs its psql's \\getenv", () => {
        assertOneProblem({ image: "postgres:14.13" }, /^workshop-postgres:image: expected PostgreSQL 15 or later \(the postStart hook reads the password with psql's \\getenv\); got "postgres:14.13"/);
        assertOneProblem({ image: "registry.local:5000/db/postgres:9.6-alpine" }, /^workshop-postgres:image: expected PostgreSQL 15 or later/);
        assert.strictEqual(problemsWith({ image: "postgres:15-bookworm" }).length, 0);
    });

    it("an unknown service type lists the allowed ones", () => {
        assertOneProblem({ serviceType: "Ingress" }, /^workshop-postgres:serviceType: expected one of ClusterIP, NodePort, LoadBalancer; got "Ingress"/);
    });

    it("an out-of-range port gives the range", () => {
        assertOneProblem({ dbHost: "127.0.0.1", dbPort: "70000" }, /^workshop-postgres:dbPort: expected a TCP port: a whole number from 1 to 65535; got "70000"/);
        assertOneProblem({ nodePort: "8080" }, /^workshop-postgres:nodePort: expected a NodePort: a whole number from 30000 to 32767; got "8080"/);
        assertOneProblem({ dbHost: "127.0.0.1", dbPort: "54.32" }, /^workshop-postgres:dbPort: /);
    });

    it("the deploying machine goes through the tunnel unless dbHost or a LoadBalancer says otherwise", () => {
        const route = (changes: Record<string, string>) => parseSettings(source({ ...VALID, ...changes })).schema.route;
        assert.deepStrictEqual(route({}), { via: "tunnel", port: 15432 }, "the default: ClusterIP and the tunnel");
        assert.deepStrictEqual(route({ tunnelPort: "25432" }), { via: "tunnel", port: 25432 });
        assert.deepStrictEqual(route({ dbHost: "db.example.com", dbPort: "6432" }), { via: "address", host: "db.example.com", port: 6432 });
        assert.deepStrictEqual(route({ serviceType: "LoadBalancer", allowedCidrs: "203.0.113.7/32" }), { via: "loadBalancer", port: undefined });
        assert.deepStrictEqual(route({ serviceType: "NodePort", dbHost: "192.168.49.2" }), { via: "address", host: "192.168.49.2", port: undefined });
    });

    it("a NodePort Service needs dbHost, since the deploying machine cannot know a node's address", () => {
        assertOneProblem({ serviceType: "NodePort" }, /^workshop-postgres:dbHost: missing; with serviceType NodePort set dbHost to a node address/);
    });

    it("a tunnel port that is not a local unprivileged port is refused", () => {
        assertOneProblem({ tunnelPort: "80" }, /^workshop-postgres:tunnelPort: expected a local TCP port for the tunnel: a whole number from 1024 to 65535; got "80"/);
        assertOneProblem({ tunnelPort: "15432x" }, /^workshop-postgres:tunnelPort: /);
    });

    it("a LoadBalancer without dbHost checks the stack's CA only, since its address is not in the certificate", () => {
        const lb = { serviceType: "LoadBalancer", allowedCidrs: "203.0.113.0/24" };
        assert.deepStrictEqual(parseSettings(source({ ...VALID, ...lb })).tls, { enabled: true, sslMode: "verify-ca" });
        assertOneProblem({ ...lb, sslMode: "verify-full" },
            /^workshop-postgres:sslMode: expected verify-ca for a LoadBalancer without dbHost .*or set dbHost to the load balancer's address or DNS name, which the certificate then holds; got "verify-full"$/);
        assert.deepStrictEqual(parseSettings(source({ ...VALID, ...lb, dbHost: "db.example.com" })).tls, { enabled: true, sslMode: "verify-full" });
    });

    it("a LoadBalancer is never published to every address unless asked for by name", () => {
        assertOneProblem({ serviceType: "LoadBalancer" },
            /^workshop-postgres:allowedCidrs: missing; a LoadBalancer admits only the networks listed here \(its loadBalancerSourceRanges\).*\["0\.0\.0\.0\/0"\] to publish it/);
        assert.strictEqual(problemsWith({ serviceType: "LoadBalancer", allowedCidrs: "0.0.0.0/0" }).length, 0);
    });

    it("a nodePort with a ClusterIP Service is refused", () => {
        assertOneProblem({ serviceType: "ClusterIP", dbHost: "127.0.0.1", nodePort: "30432" }, /^workshop-postgres:nodePort: expected no nodePort when serviceType is ClusterIP/);
    });

    it("bad CIDRs and namespace lists are refused", () => {
        assertOneProblem({ allowedCidrs: "10.0.0.0/33" }, /^workshop-postgres:allowedCidrs: expected a list of CIDRs/);
        assertOneProblem({ allowedCidrs: "300.1.1.1/8" }, /^workshop-postgres:allowedCidrs: /);
        assertOneProblem({ allowedCidrs: "[1, 2]" }, /^workshop-postgres:allowedCidrs: /);
        assertOneProblem({ allowedNamespaces: "Apps" }, /^workshop-postgres:allowedNamespaces: expected a list of namespace names/);
    });

    it("flags accept only true or false", () => {
        assertOneProblem({ allowDataDeletion: "yes" }, /^workshop-postgres:allowDataDeletion: expected true or false; got "yes"/);
    });

    it("an unknown sslmode lists the allowed ones", () => {
        assertOneProblem({ sslMode: "prefer" }, /^workshop-postgres:sslMode: expected one of disable, require, verify-ca, verify-full/);
    });

    it("the application role must differ from the superuser and have a password", () => {
        assertOneProblem({ appUser: "postgres" }, /^workshop-postgres:appUser: expected a role other than dbUser/);
        assertOneProblem({}, /^workshop-postgres:appPassword: missing; /, ["dbPassword", "backupPassword"]);
    });

    it("alert addresses are validated", () => {
        assertOneProblem({ alertTo: "ops@example.com,not-an-address" }, /^workshop-postgres:alertTo: expected one or more e-mail addresses/);
        assertOneProblem({ alertTo: undefined }, /^workshop-postgres:alertTo: missing; expected one or more e-mail addresses/);
        assertOneProblem({ alertFrom: "alerts" }, /^workshop-postgres:alertFrom: expected one e-mail address/);
        assertOneProblem({ alertFrom: undefined }, /^workshop-postgres:alertFrom: missing; expected the sender address/);
        assertOneProblem({ alertDeadlineSeconds: "600" }, /^workshop-postgres:alertDeadlineSeconds: expected seconds: a whole number from 5 to 120/);
        assertOneProblem({ alertSubjectPrefix: "a\nb" }, /^workshop-postgres:alertSubjectPrefix: expected one line/);
    });

    it("watcher settings are validated", () => {
        assertOneProblem({ watcherEnabled: "off" }, /^workshop-postgres:watcherEnabled: expected true or false/);
        assertOneProblem({ watcherNotReadySeconds: "5" }, /^workshop-postgres:watcherNotReadySeconds: expected seconds: a whole number from 10 to 3600/);
    });

    it("a bad backup schedule says which field is wrong and what a schedule looks like", () => {
        assertOneProblem({ backupSchedule: "15 25 * * *" },
            /^workshop-postgres:backupSchedule: expected a cron schedule in UTC, five fields \(minute hour day-of-month month day-of-week\) such as "15 2 \* \* \*" or a macro such as @daily; hour 25 is outside 0-23; got "15 25 \* \* \*"$/);
        assertOneProblem({ backupSchedule: "0 0 30 2 *" }, /^workshop-postgres:backupSchedule: .*; it never runs \(no day matches\); got "0 0 30 2 \*"/);
        assert.strictEqual(parseSettings(source({ ...VALID, backupSchedule: "@hourly" })).backup.schedule, "@hourly");
    });

    it("the number of backups to keep is a whole number from 1 to 100", () => {
        assertOneProblem({ backupKeep: "0" }, /^workshop-postgres:backupKeep: expected backups to keep: a whole number from 1 to 100; got "0"/);
        assertOneProblem({ backupKeep: "seven" }, /^workshop-postgres:backupKeep: expected backups to keep: a whole number from 1 to 100; got "seven"/);
        assert.strictEqual(parseSettings(source({ ...VALID, backupKeep: "30" })).backup.keep, 30);
    });

    it("the backup volume's size and class are checked like the data volume's", () => {
        assertOneProblem({ backupStorageSize: "2 GB" }, /^workshop-postgres:backupStorageSize: expected a Kubernetes storage quantity such as 1Gi.*got "2 GB"/);
        assertOneProblem({ backupStorageSize: "0" }, /^workshop-postgres:backupStorageSize: expected a Kubernetes storage quantity from 512Mi to 64Ti \(.*\); got "0"$/);
        assertOneProblem({ backupStorageClass: "Fast_SSD" }, /^workshop-postgres:backupStorageClass: expected a StorageClass name/);
        assertOneProblem({ storageClass: "Fast_SSD" }, /^workshop-postgres:storageClass: expected a StorageClass name/);
        const settings = parseSettings(source({ ...VALID, backupStorageSize: "20Gi", backupStorageClass: "standard" }));
        assert.strictEqual(settings.backup.storageSize, "20Gi");
        assert.strictEqual(settings.backup.storageClass, "standard");
    });

    it("the backup role is a role of its own, with a password while backups are on", () => {
        assertOneProblem({ backupUser: "backup-role" }, /^workshop-postgres:backupUser: expected a PostgreSQL role name/);
        assertOneProblem({ backupUser: "postgres" }, /^workshop-postgres:backupUser: expected a role of its own, other than dbUser and appUser/);
        assertOneProblem({ backupUser: "workshop_app" }, /^workshop-postgres:backupUser: expected a role of its own/);
        assertOneProblem({}, /^workshop-postgres:backupPassword: missing; expected the password of the backup role, set with `pulumi config set --secret backupPassword <value>`$/, ["dbPassword", "appPassword"]);
        assert.strictEqual(problemsWith({ backupEnabled: "false" }, ["dbPassword", "appPassword"]).length, 0);
        assertOneProblem({ backupEnabled: "no" }, /^workshop-postgres:backupEnabled: expected true or false; got "no"/);
    });

    it("reports every problem at once, in one error", () => {
        const problems = problemsWith({ namespace: "BAD", serviceType: "x", storageSize: "big" }, []);
        assert.deepStrictEqual(problems.map((problem) => problem.split(":")[1]), ["namespace", "dbPassword", "storageSize", "serviceType", "appPassword", "backupPassword"]);
        const message = new ConfigError(problems).message;
        assert.match(message, /^invalid stack configuration:\n {2}- workshop-postgres:namespace/);
    });
});

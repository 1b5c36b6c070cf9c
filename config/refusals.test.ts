/**
 * Every setting the parser refuses, and the edge cases it accepts, one row each. A row changes a
 * valid stack's config (a plain key, a secret, or the deploying environment) and names the one
 * problem expected; `undefined` means the stack is accepted.
 */
import * as assert from "assert";
import type { ClusterLocality } from "./exposure";
import { SENDGRID_KEY_ENV } from "./alerts";
import { PUBLISHED } from "./exposure";
import { ConfigError, ConfigSource, parseSettings, Settings, tlsWarning } from "./settings";

const SHA256 = "0123456789abcdef".repeat(4);
const GOOD_KEY = `SG.${"k".repeat(22)}.${"s".repeat(43)}`;

interface Stack {
    readonly plain?: Record<string, string | undefined>;
    /** Secret keys and their values; undefined removes one. */
    readonly secrets?: Record<string, string | undefined>;
    readonly env?: Record<string, string>;
    readonly cluster?: ClusterLocality;
}

const VALID = {
    plain: { dbName: "WORKSHOP", alertTo: "ops@example.com", alertFrom: "alerts@example.com" },
    secrets: { dbPassword: "a-password", appPassword: "an-app-password", backupPassword: "a-backup-password" },
};
const LOCAL: ClusterLocality = { local: true, description: "context \"kind-kind\" (API server 127.0.0.1): the API server is on this machine" };
const REMOTE: ClusterLocality = { local: false, description: "context \"gke_prod\" (API server 34.76.1.2): the API server is not on a loopback address" };

function parse(stack: Stack): Settings | readonly string[] {
    const plain = Object.fromEntries(Object.entries({ ...VALID.plain, ...stack.plain }).filter(([, value]) => value !== undefined)) as Record<string, string>;
    const secrets = Object.fromEntries(Object.entries({ ...VALID.secrets, ...stack.secrets }).filter(([, value]) => value !== undefined)) as Record<string, string>;
    const source: ConfigSource = {
        get: (key) => plain[key] ?? secrets[key],
        hasSecret: (key) => key in secrets,
        secret: (key) => secrets[key],
        keys: () => [...Object.keys(plain), ...Object.keys(secrets)],
        env: (name) => stack.env?.[name],
    };
    try {
        return parseSettings(source, { cluster: () => stack.cluster ?? LOCAL });
    } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        return error.problems;
    }
}

const REFUSED: Record<string, [Stack, RegExp]> = {
    // Image references.
    "a short digest": [{ plain: { image: "postgres@sha256:abc123" } }, /^workshop-postgres:image: expected an image reference .*its digest is not algorithm:hex/],
    "a digest of the wrong length": [{ plain: { image: `postgres@sha256:${SHA256}0` } }, /^workshop-postgres:image: expected a sha256 digest of 64 lower-case hex digits; it has 65/],
    "an upper-case digest": [{ plain: { image: `postgres@sha256:${SHA256.toUpperCase()}` } }, /some upper case/],
    "an unknown digest algorithm": [{ plain: { image: `postgres@md5:${SHA256.slice(0, 32)}` } }, /^workshop-postgres:image: expected a digest of sha256 .* or sha512/],
    "an upper-case repository": [{ plain: { image: "Postgres:18.1" } }, /^workshop-postgres:image: expected a repository name in lower case/],
    "a YAML list": [{ plain: { image: "[\"postgres:18.1\"]" } }, /^workshop-postgres:image: expected a tag of letters/],
    "white space": [{ plain: { image: "postgres: 18.1" } }, /^workshop-postgres:image: expected an image reference .*white space/],
    "10,000 characters": [{ plain: { image: "p".repeat(10_000) } }, /^workshop-postgres:image: expected an image name .* at most 255 characters; it has 10000; got "p{40}…" \(10000 characters\)$/],
    "a floating tag": [{ plain: { image: "postgres:alpine" } }, /^workshop-postgres:image: expected a tag that starts with the PostgreSQL major version .*"alpine" moves to each new major release/],
    "a distribution tag": [{ plain: { image: "postgres:bookworm" } }, /"bookworm" moves/],
    "latest": [{ plain: { image: "postgres:latest" } }, /not latest/],
    "no tag": [{ plain: { image: "postgres" } }, /it has no tag/],
    "PostgreSQL 14": [{ plain: { image: "postgres:14.13" } }, /^workshop-postgres:image: expected PostgreSQL 15 or later/],
    "a floating Node.js tag": [{ plain: { alertImage: "node:lts-alpine" } }, /^workshop-postgres:alertImage: expected a tag that starts with the Node\.js major version \(for example node:24/],
    "Node.js 20": [{ plain: { alertImage: "node:20.18.0-alpine" } }, /^workshop-postgres:alertImage: expected Node\.js 22 or later/],
    "a bad registry port": [{ plain: { image: "registry.local:99999/postgres:18" } }, /its registry "registry\.local:99999"/],
    // PostgreSQL's names.
    "dbUser public": [{ plain: { dbUser: "public" } }, /^workshop-postgres:dbUser: expected a role name other than public, which PostgreSQL reserves/],
    "dbUser none": [{ plain: { dbUser: "none" } }, /^workshop-postgres:dbUser: expected a role name other than none/],
    "appUser public": [{ plain: { appUser: "public" } }, /^workshop-postgres:appUser: expected a role name other than public/],
    "appUser current_user": [{ plain: { appUser: "current_user" } }, /^workshop-postgres:appUser: expected a role name other than current_user/],
    "backupUser session_user": [{ plain: { backupUser: "session_user" } }, /^workshop-postgres:backupUser: expected a role name other than session_user/],
    "backupUser pg_read_all_data": [{ plain: { backupUser: "pg_read_all_data" } }, /^workshop-postgres:backupUser: expected a role name that does not start with pg_/],
    "dbName template0": [{ plain: { dbName: "template0" } }, /^workshop-postgres:dbName: expected a database other than template0: CREATE DATABASE copies the templates/],
    "dbName template1": [{ plain: { dbName: "template1" } }, /^workshop-postgres:dbName: expected a database other than template1/],
    "schemaName public": [{ plain: { schemaName: "public" } }, /^workshop-postgres:schemaName: expected a schema of the stack's own, not public, .*allowDataDeletion would drop it/],
    "schemaName information_schema": [{ plain: { schemaName: "information_schema" } }, /not information_schema/],
    "schemaName pg_catalog": [{ plain: { schemaName: "pg_catalog" } }, /^workshop-postgres:schemaName: expected a schema name that does not start with pg_/],
    // Secrets: set, but not usable.
    "an empty dbPassword": [{ secrets: { dbPassword: "" } }, /^workshop-postgres:dbPassword: expected the PostgreSQL superuser password; it is empty \(the value is not shown\)$/],
    "a blank appPassword": [{ secrets: { appPassword: "   " } }, /^workshop-postgres:appPassword: expected the password of the application role; it is empty/],
    "an empty backupPassword": [{ secrets: { backupPassword: "" } }, /^workshop-postgres:backupPassword: expected the password of the backup role; it is empty/],
    "a password of two lines": [{ secrets: { dbPassword: "first\nsecond" } }, /^workshop-postgres:dbPassword: expected a password of one line, without control characters \(the value is not shown\)$/],
    "an empty SendGrid key": [{ secrets: { sendgridApiKey: "" } }, /^workshop-postgres:sendgridApiKey: expected a SendGrid API key; it is empty/],
    "a malformed SendGrid key": [{ secrets: { sendgridApiKey: "SG.not-a-real-key" } }, /^workshop-postgres:sendgridApiKey: expected a SendGrid API key as SendGrid issues it: SG\., 22 characters, '\.', 43 characters \(the value is not shown\)$/],
    "a key that is no SendGrid key": [{ secrets: { sendgridApiKey: `xx.${"k".repeat(22)}.${"s".repeat(43)}` } }, /sendgridApiKey: expected a SendGrid API key as SendGrid issues it/],
    "a malformed key in the environment": [{ env: { [SENDGRID_KEY_ENV]: "SG.short" } }, /^WORKSHOP_SENDGRID_API_KEY \(environment\): expected a SendGrid API key as SendGrid issues it.*\(the value is not shown\)$/],
    "a SendGrid key in the config of a stack whose secrets are public": [{ plain: { publicCredentials: "true" }, secrets: { sendgridApiKey: GOOD_KEY } },
        /^workshop-postgres:sendgridApiKey: this stack's secrets are public \(publicCredentials is true.*config rm sendgridApiKey.*WORKSHOP_SENDGRID_API_KEY in the environment/],
    "a SendGrid key in a stack opened with the published passphrase": [{ secrets: { sendgridApiKey: GOOD_KEY }, env: { PULUMI_CONFIG_PASSPHRASE: PUBLISHED.passphrase } },
        /^workshop-postgres:sendgridApiKey: this stack's secrets are public \(its passphrase is the published dev passphrase workshop-dev\)/],
    // Recipients.
    "an empty recipient list": [{ plain: { alertTo: "[]" } }, /^workshop-postgres:alertTo: expected one or more e-mail addresses.*; the list is empty; got "\[\]"/],
    "a list of commas": [{ plain: { alertTo: "," } }, /^workshop-postgres:alertTo: .*the list is empty; got ","/],
    "a list of one empty string": [{ plain: { alertTo: "[\"\"]" } }, /the list is empty/],
    "one bad address among good ones": [{ plain: { alertTo: "ops@example.com,ops" } }, /^workshop-postgres:alertTo: expected one or more e-mail addresses.*; "ops" is not an e-mail address/],
    // CIDRs.
    "an IPv6 form that is no address": [{ plain: { allowedCidrs: ":/0" } }, /^workshop-postgres:allowedCidrs: expected a list of CIDRs .*; ":\/0" does not start with an IPv4 or IPv6 address/],
    "nine IPv6 groups": [{ plain: { allowedCidrs: "1:2:3:4:5:6:7:8:9/64" } }, /does not start with an IPv4 or IPv6 address/],
    "host bits set": [{ plain: { allowedCidrs: "10.0.0.0/8,192.168.1.10/24" } }, /"192\.168\.1\.10\/24" has host bits set: the network is 192\.168\.1\.0\/24, one address is 192\.168\.1\.10\/32/],
    "an IPv4 prefix over 32": [{ plain: { allowedCidrs: "10.0.0.0/33" } }, /prefix longer than 32 bits/],
    "an IPv6 prefix over 128": [{ plain: { allowedCidrs: "[\"fd00::/129\"]" } }, /prefix longer than 128 bits/],
    "an octet with a leading zero": [{ plain: { allowedCidrs: "010.0.0.0/8" } }, /does not start with an IPv4 or IPv6 address/],
    "an address without a prefix": [{ plain: { allowedCidrs: "10.0.0.1" } }, /not address\/prefix-length/],
    // Quantities.
    "a 1 Mi memory limit": [{ plain: { memoryLimit: "1Mi" } }, /^workshop-postgres:memoryLimit: expected a memory quantity from 256Mi to 1Ti/],
    "a 64 Mi memory request": [{ plain: { memoryRequest: "64Mi" } }, /^workshop-postgres:memoryRequest: expected a memory quantity from 128Mi to 1Ti \(PostgreSQL's default shared_buffers/],
    "a memory limit of 0": [{ plain: { memoryLimit: "0" } }, /^workshop-postgres:memoryLimit: expected a memory quantity from 256Mi to 1Ti \(PostgreSQL's shared_buffers alone is 128 MB/],
    "a memory limit in thousandths of a byte": [{ plain: { memoryLimit: "512m" } }, /^workshop-postgres:memoryLimit: expected a memory quantity such as 512Mi or 1Gi; "512m" is 512 thousandths of a byte \(did you mean 512Mi\?\)/],
    "a CPU limit of 0": [{ plain: { cpuLimit: "0" } }, /^workshop-postgres:cpuLimit: expected a CPU quantity from 100m to 256/],
    "a CPU request of 0": [{ plain: { cpuRequest: "0" } }, /^workshop-postgres:cpuRequest: expected a CPU quantity from 10m to 256/],
    "a CPU quantity finer than a millicore": [{ plain: { cpuRequest: "0.2505" } }, /^workshop-postgres:cpuRequest: expected a CPU quantity of whole millicores/],
    "a storage size no cluster can bind": [{ plain: { storageSize: "100Pi" } }, /^workshop-postgres:storageSize: expected a Kubernetes storage quantity from 512Mi to 64Ti/],
    "a tiny data volume": [{ plain: { storageSize: "100Mi" } }, /^workshop-postgres:storageSize: expected a Kubernetes storage quantity from 512Mi/],
    "a backup volume too small for any dump": [{ plain: { backupStorageSize: "10Mi" } }, /^workshop-postgres:backupStorageSize: expected a Kubernetes storage quantity from 512Mi to 64Ti \(room for a few compressed dumps/],
    "an exponent": [{ plain: { storageSize: "1e9" } }, /^workshop-postgres:storageSize: expected a Kubernetes storage quantity such as 1Gi or 500Mi \(in bytes/],
    // Namespaces.
    "kube-system, shared": [{ plain: { namespace: "kube-system", createNamespace: "false" } }, /^workshop-postgres:namespace: expected a namespace of the stack's own, not kube-system: .*own-namespace rule/],
    "default": [{ plain: { namespace: "default" } }, /not default/],
    "kube-public": [{ plain: { namespace: "kube-public" } }, /not kube-public/],
    "kube-node-lease": [{ plain: { namespace: "kube-node-lease" } }, /not kube-node-lease/],
    "another kube- name": [{ plain: { namespace: "kube-tools" } }, /Kubernetes reserves default and kube-\*/],
    // Host names and addresses.
    "a dbHost with a space": [{ plain: { dbHost: "db host" } }, /^workshop-postgres:dbHost: expected a host name .*, an IPv4 address such as 127\.0\.0\.1 or an IPv6 address such as ::1; got "db host"/],
    "a dbHost with an underscore": [{ plain: { dbHost: "db_1.example.com" } }, /^workshop-postgres:dbHost: expected a host name/],
    "a dbHost that is a URL": [{ plain: { dbHost: "postgresql://db.example.com" } }, /^workshop-postgres:dbHost: expected a host name/],
    "a dbHost that looks like an address but is none": [{ plain: { dbHost: "300.1.1.1" } }, /^workshop-postgres:dbHost: expected a host name/],
    "a bracketed IPv6 dbHost": [{ plain: { dbHost: "[::1]" } }, /^workshop-postgres:dbHost: expected an IPv6 address without brackets, such as ::1/],
    "a StorageClass name over 253 characters": [{ plain: { storageClass: "a".repeat(254) } }, /^workshop-postgres:storageClass: expected a StorageClass name .*at most 253/],
    "a subject prefix with a control character": [{ plain: { alertSubjectPrefix: "[db]\u0007" } }, /^workshop-postgres:alertSubjectPrefix: expected one line of at most 60 characters, without control characters/],
    // TLS.
    "sslMode disable with TLS on": [{ plain: { sslMode: "disable" } },
        /^workshop-postgres:sslMode: expected require, verify-ca or verify-full while tls is true \(the server refuses TCP connections without TLS; verify-full, the default, checks the stack's CA and the server's name\), or tls false for a server without TLS; got "disable"$/],
    "a verifying sslMode with TLS off": [{ plain: { tls: "false", sslMode: "verify-full" } },
        /^workshop-postgres:sslMode: expected disable while tls is false \(the server then has no certificate\), or tls true; got "verify-full"$/],
    "sslMode require with TLS off": [{ plain: { tls: "false", sslMode: "require" } }, /^workshop-postgres:sslMode: expected disable while tls is false/],
    "a tls that is no flag": [{ plain: { tls: "on" } }, /^workshop-postgres:tls: expected true or false; got "on"$/],
    "an sslMode libpq has but the provider has not": [{ plain: { sslMode: "prefer" } }, /^workshop-postgres:sslMode: expected one of disable, require, verify-ca, verify-full; got "prefer"$/],
    // Typos.
    "a key in the wrong case": [{ plain: { allowedCIDRs: "10.0.0.0/8" } }, /^workshop-postgres:allowedCIDRs: unknown key, so nothing reads it; did you mean allowedCidrs\? Remove it with `pulumi config rm allowedCIDRs` and set allowedCidrs instead/],
    "sslmode": [{ plain: { sslmode: "require" } }, /^workshop-postgres:sslmode: unknown key.*did you mean sslMode\?/],
    "a misspelt secret": [{ secrets: { dbPasword: "x" } }, /^workshop-postgres:dbPasword: unknown key.*did you mean dbPassword\?/],
    "a swap of two letters": [{ plain: { backupKepe: "3" } }, /did you mean backupKeep\?/],
    "a key like none": [{ plain: { colour: "blue" } }, /^workshop-postgres:colour: unknown key, so nothing reads it Remove it with `pulumi config rm colour`; every key is listed in docs\/configuration\.md$/],
    // Published credentials on a cluster others may reach.
    "the dev stack's marker on a remote cluster": [{ plain: { publicCredentials: "true" }, cluster: REMOTE },
        /^workshop-postgres:publicCredentials: this stack's credentials are public \(publicCredentials is true: .*\), so it deploys only to a cluster that no one else can reach, and this one may be reachable: context "gke_prod" .*PULUMI_STACK=mine PULUMI_CONFIG_PASSPHRASE=.*config set --secret dbPassword.*config set clusterIsPrivate true`$/],
    "the published passphrase on a remote cluster": [{ env: { PULUMI_CONFIG_PASSPHRASE: PUBLISHED.passphrase }, cluster: REMOTE }, /credentials are public \(its passphrase is the published dev passphrase workshop-dev\)/],
    "the challenge's password on a remote cluster": [{ secrets: { dbPassword: PUBLISHED.password }, cluster: REMOTE }, /credentials are public \(its dbPassword is the challenge's password, which the README publishes\)/],
    "a marker that is no flag": [{ plain: { publicCredentials: "yes" } }, /^workshop-postgres:publicCredentials: expected true or false; got "yes"/],
};

const ACCEPTED: Record<string, Stack> = {
    "a valid digest": { plain: { image: `postgres@sha256:${SHA256}` } },
    "a tag and a digest": { plain: { image: `postgres:18.1@sha256:${SHA256}` } },
    "a sha512 digest": { plain: { image: `postgres@sha512:${SHA256}${SHA256}` } },
    "a private registry with a port": { plain: { image: "registry.local:5000/db/postgres:18.1-bookworm" } },
    "a major-only tag": { plain: { image: "postgres:15" } },
    "a beta": { plain: { image: "postgres:19beta1" } },
    "a pinned Node.js image": { plain: { alertImage: "node:22.12.0-bookworm-slim" } },
    "an IPv6 CIDR": { plain: { allowedCidrs: "fd00::/8" } },
    "IPv4 and IPv6 to all": { plain: { allowedCidrs: "[\"0.0.0.0/0\", \"::/0\"]" } },
    "one address as /32": { plain: { allowedCidrs: "192.168.1.10/32" } },
    "dbName postgres": { plain: { dbName: "postgres" } },
    "dbName Template1 (quoted, so another database)": { plain: { dbName: "Template1" } },
    "a role whose name merely contains public": { plain: { appUser: "public_app" } },
    "schemaName PG_workshop (quoted, so not reserved)": { plain: { schemaName: "PG_workshop" } },
    "memory at the lower bounds": { plain: { memoryRequest: "128Mi", memoryLimit: "256Mi" } },
    "CPU at the lower bounds": { plain: { cpuRequest: "10m", cpuLimit: "100m" } },
    "storage at the bounds": { plain: { storageSize: "64Ti", backupStorageSize: "512Mi" } },
    "a namespace with kube in it": { plain: { namespace: "my-kube-db" } },
    "an IPv6 dbHost": { plain: { serviceType: "ClusterIP", dbHost: "fd00::10", dbPort: "15432" } },
    "a host name with a trailing dot": { plain: { serviceType: "NodePort", dbHost: "node-1.example.com." } },
    "TLS with sslMode require": { plain: { sslMode: "require" } },
    "TLS with sslMode verify-ca": { plain: { sslMode: "verify-ca" } },
    "TLS off with sslMode disable": { plain: { tls: "false", sslMode: "disable" } },
    "a good SendGrid key": { secrets: { sendgridApiKey: GOOD_KEY } },
    "a SendGrid key from the environment of a stack whose secrets are public": { plain: { publicCredentials: "true" }, env: { [SENDGRID_KEY_ENV]: GOOD_KEY } },
    "an empty key variable (none)": { env: { [SENDGRID_KEY_ENV]: "" } },
    "no backupPassword while backups are off": { plain: { backupEnabled: "false" }, secrets: { backupPassword: undefined } },
    "the dev stack's marker on a local cluster": { plain: { publicCredentials: "true" }, cluster: LOCAL },
    "the dev stack's marker where the user says the cluster is private": { plain: { publicCredentials: "true", clusterIsPrivate: "true" }, cluster: REMOTE },
    "own credentials on a remote cluster": { cluster: REMOTE },
    // The program's first cluster read refuses that, with the next command (kube/clusterProblems.ts).
    "the dev stack's marker with no kubeconfig to tell the cluster by": { plain: { publicCredentials: "true" },
        cluster: { local: false, description: "the kubeconfig could not be read", kubeconfigProblem: "no kubeconfig: …" } },
};

describe("what preview refuses, one row each", () => {
    for (const [name, [stack, expected]] of Object.entries(REFUSED)) {
        it(name, () => {
            const result = parse(stack);
            assert.ok(Array.isArray(result), "accepted");
            assert.strictEqual(result.length, 1, `expected one problem, got:\n${result.join("\n")}`);
            assert.match(result[0], expected);
            assert.ok(result[0].length < 1000, `a message of ${result[0].length} characters`);
            for (const value of [...Object.values(stack.secrets ?? {}), ...Object.values(stack.env ?? {})]) {
                if (value !== undefined && value.trim().length >= 3) {
                    assert.ok(!result[0].includes(value) || value === PUBLISHED.passphrase, "a secret's value is never shown");
                }
            }
        });
    }
});

describe("what preview accepts at the edges", () => {
    for (const [name, stack] of Object.entries(ACCEPTED)) {
        it(name, () => {
            const result = parse(stack);
            if (Array.isArray(result)) {
                assert.fail(`refused:\n${result.join("\n")}`);
            }
        });
    }

    it("reads the cluster only for a stack whose credentials are public", () => {
        let reads = 0;
        const source = (plain: Record<string, string>): ConfigSource => ({
            get: (key) => ({ ...VALID.plain, ...plain } as Record<string, string>)[key],
            hasSecret: (key) => key in VALID.secrets,
            secret: (key) => (VALID.secrets as Record<string, string>)[key],
        });
        parseSettings(source({}), { cluster: () => { reads++; return LOCAL; } });
        assert.strictEqual(reads, 0);
        parseSettings(source({ publicCredentials: "true" }), { cluster: () => { reads++; return LOCAL; } });
        assert.strictEqual(reads, 1);
        assert.throws(() => parseSettings(source({ publicCredentials: "true" })), /the program was given no way to read the kubeconfig/);
    });

    it("turns TLS on with verify-full unless told otherwise, and warns only without TLS", () => {
        const settings = (stack: Stack) => (parse(stack) as Settings).tls;
        assert.deepStrictEqual(settings({}), { enabled: true, sslMode: "verify-full" });
        assert.deepStrictEqual(settings({ plain: { sslMode: "verify-ca" } }), { enabled: true, sslMode: "verify-ca" });
        assert.deepStrictEqual(settings({ plain: { tls: "false" } }), { enabled: false, sslMode: "disable" });
        assert.strictEqual(tlsWarning(settings({})), undefined);
        assert.match(tlsWarning(settings({ plain: { tls: "false" } })) ?? "",
            /^tls is false: PostgreSQL has no certificate and accepts connections without TLS, so passwords and data cross the network in clear.*`npm run pulumi -- config rm tls`/);
    });

    it("says where the SendGrid key comes from, and without one that alerts are only logged", () => {
        const settings = (stack: Stack) => parse(stack) as Settings;
        assert.strictEqual(settings({ secrets: { sendgridApiKey: GOOD_KEY } }).alert.sendgridKeySource, "config");
        assert.strictEqual(settings({ env: { [SENDGRID_KEY_ENV]: GOOD_KEY } }).alert.sendgridKeySource, "environment");
        assert.strictEqual(settings({ secrets: { sendgridApiKey: GOOD_KEY }, env: { [SENDGRID_KEY_ENV]: `SG.${"o".repeat(22)}.${"o".repeat(43)}` } }).alert.sendgridKeySource,
            "config", "the stack's own key wins");
        const none = settings({});
        assert.strictEqual(none.alert.sendgridKeySource, undefined);
        assert.strictEqual(none.alert.sendgridConfigured, false);
    });
});

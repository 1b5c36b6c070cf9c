import * as assert from "assert";
import { CRASH_ARGS, postgresContainer, postgresPodSpec } from "./postgresSpec";
import { HBA_FILE, HBA_MOUNT, PG_HBA, TLS_CERT, TLS_KEY, TLS_KEY_MODE, TLS_MOUNT, tlsServerArgs } from "./tlsSpec";

const ARGS = {
    instance: "postgres", image: "postgres:18.1", resources: { requests: {}, limits: {} } as any,
    settingsConfigMap: "settings", credentialsSecret: "credentials", dataClaim: "postgres-data",
};
const TLS = { secret: "postgres-tls", hbaConfigMap: "postgres-hba" };

/** pg_hba.conf's rules, blank lines and comments left out, as whitespace-separated fields. */
function rules(text: string): string[][] {
    return text.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#")).map((line) => line.trim().split(/\s+/));
}

describe("the server's TLS", () => {
    it("trusts the socket, and asks every TCP connection, loopback included, for TLS and the password", () => {
        assert.deepStrictEqual(rules(PG_HBA), [
            ["local", "all", "all", "trust"],
            ["hostssl", "all", "all", "all", "scram-sha-256"],
            ["hostnossl", "all", "all", "all", "reject"],
        ]);
    });

    it("passes TLS and the mounted pg_hba.conf to the image's own entrypoint, after its command", () => {
        const container: any = postgresContainer({ ...ARGS, tls: TLS });
        assert.deepStrictEqual(container.args, [
            "docker-entrypoint.sh", "postgres", ...CRASH_ARGS,
            "-c", "ssl=on",
            "-c", `ssl_cert_file=${TLS_MOUNT}/${TLS_CERT}`,
            "-c", `ssl_key_file=${TLS_MOUNT}/${TLS_KEY}`,
            "-c", `hba_file=${HBA_MOUNT}/${HBA_FILE}`,
        ]);
        assert.deepStrictEqual(container.args.slice(2 + CRASH_ARGS.length), tlsServerArgs());
    });

    it("mounts the key read-only for root and the postgres group only, in the PostgreSQL container alone", () => {
        const pod: any = postgresPodSpec({ ...ARGS, tls: TLS });
        const tls = pod.volumes.find((volume: any) => volume.name === "tls");
        assert.deepStrictEqual(tls, { name: "tls", secret: { secretName: "postgres-tls", defaultMode: 0o440 } });
        // PostgreSQL refuses a root-owned key with group write or execute, or any access for others.
        assert.strictEqual(TLS_KEY_MODE & 0o037, 0);
        assert.strictEqual(pod.securityContext.fsGroup, 999, "the group the key is readable by is the server's");
        assert.deepStrictEqual(pod.volumes.find((volume: any) => volume.name === "hba"), { name: "hba", configMap: { name: "postgres-hba", defaultMode: 0o444 } });
        const mounts = pod.containers[0].volumeMounts.filter((mount: any) => ["tls", "hba"].includes(mount.name));
        assert.deepStrictEqual(mounts, [
            { name: "tls", mountPath: TLS_MOUNT, readOnly: true },
            { name: "hba", mountPath: HBA_MOUNT, readOnly: true },
        ]);
    });

    it("without TLS keeps the server as it was: no arguments, no volumes", () => {
        const container: any = postgresContainer(ARGS);
        assert.deepStrictEqual(container.args, ["docker-entrypoint.sh", "postgres", ...CRASH_ARGS]);
        const pod: any = postgresPodSpec(ARGS);
        assert.ok(!pod.volumes.some((volume: any) => ["tls", "hba"].includes(volume.name)));
    });
});

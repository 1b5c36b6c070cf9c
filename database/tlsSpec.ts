/**
 * The server's side of TLS, as pure builders: where the certificate and pg_hba.conf are mounted, the
 * server's arguments, and the client authentication rules. Works with any image of the official
 * postgres contract: the entrypoint passes its arguments on to the server (the temporary server of a
 * first start included), and nothing here depends on the data directory.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";

type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

export const TLS_MOUNT = "/opt/postgresql/tls";
export const HBA_MOUNT = "/opt/postgresql/hba";
export const HBA_FILE = "pg_hba.conf";
/** The keys of a `kubernetes.io/tls` Secret. */
export const TLS_CERT = "tls.crt";
export const TLS_KEY = "tls.key";

/**
 * The Secret's files are owned by root with the group of the pod's fsGroup (the postgres gid, 999):
 * PostgreSQL accepts a key owned by root only without write or execute for the group and without any
 * access for others, and reads it as a member of the group. 0440, nothing more.
 */
export const TLS_KEY_MODE = 0o440;

/**
 * Client authentication. The socket, which only the PostgreSQL container mounts (the postStart hook),
 * stays trusted as initdb's `--auth-local=trust` made it. Every TCP connection needs TLS and the
 * password, loopback included: the API server's port-forward, which the deploying machine's tunnel
 * uses, arrives inside the pod from 127.0.0.1, so a plaintext rule for loopback would let a
 * connection through the tunnel send the password in clear. The probes' pg_isready negotiates TLS like
 * any client and never authenticates, so it is unaffected. Any other connection is refused, by name.
 */
export const PG_HBA = [
    "# Written by the workshop-postgres stack (docs/tls.md); replaces the data directory's pg_hba.conf.",
    "# TYPE    DATABASE  USER  ADDRESS  METHOD",
    "local     all       all            trust",
    "hostssl   all       all   all      scram-sha-256",
    "hostnossl all       all   all      reject",
    "",
].join("\n");

/**
 * The server's `-c` settings: TLS on with the mounted certificate, and the mounted pg_hba.conf
 * instead of the data directory's, so that the rules apply to a volume initialised before them too.
 */
export function tlsServerArgs(): string[] {
    return [
        "-c", "ssl=on",
        "-c", `ssl_cert_file=${TLS_MOUNT}/${TLS_CERT}`,
        "-c", `ssl_key_file=${TLS_MOUNT}/${TLS_KEY}`,
        "-c", `hba_file=${HBA_MOUNT}/${HBA_FILE}`,
    ];
}

/** The names of the objects the server's TLS is built from. */
export interface ServerTlsObjects {
    /** A `kubernetes.io/tls` Secret with the server's certificate and key. */
    readonly secret: Input<string>;
    /** A ConfigMap with PG_HBA under HBA_FILE. */
    readonly hbaConfigMap: Input<string>;
}

export function tlsVolumes(objects: ServerTlsObjects): Volume[] {
    return [
        { name: "tls", secret: { secretName: objects.secret, defaultMode: TLS_KEY_MODE } },
        { name: "hba", configMap: { name: objects.hbaConfigMap, defaultMode: 0o444 } },
    ];
}

export function tlsVolumeMounts(): VolumeMount[] {
    return [
        { name: "tls", mountPath: TLS_MOUNT, readOnly: true },
        { name: "hba", mountPath: HBA_MOUNT, readOnly: true },
    ];
}

/** In-cluster clients' ConfigMap keys: the CA and the name the server's certificate is checked against. */
export const CLIENT_CA = "ca.crt";
export const CLIENT_HOST = "host";
export const CLIENT_SSLMODE = "sslmode";

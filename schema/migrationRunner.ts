/**
 * Applies versioned SQL files to PostgreSQL with `pg`: each file in its own transaction,
 * recorded with its checksum in a ledger table, under an advisory lock so two runs never interleave.
 */
import { Client, ClientConfig, DatabaseError } from "pg";
import { AppliedFile, lineOfPosition, pendingFiles, splitStatements, SqlFile } from "./sqlPlan";

export interface Connection {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly password: string;
    /** Exact database name; never folded to lower case. */
    readonly database: string;
    readonly sslMode: "disable" | "require" | "verify-ca" | "verify-full";
    /** PEM of the CA that verify-ca and verify-full trust, instead of the system's CAs. */
    readonly ca?: string;
}

export interface MigrationResult {
    /** Files applied by this run, in order. */
    readonly applied: string[];
    /** Every file the ledger records after this run. */
    readonly recorded: AppliedFile[];
}

/** The ledger lives in the target schema, so dropping the schema forgets it too. */
export const LEDGER_TABLE = "sql_migrations";
/**
 * Who may read or change the ledger: its owner, the superuser that applies the files. The
 * application role's grants cover every table of the schema (the provider's table grant cannot leave
 * one out), so the ledger is closed by row-level security with no policy: other roles see no row and
 * can change none, and cannot make the next run apply a file again.
 */
export const LEDGER_ACCESS = "owner-only";
/** pg_advisory_lock key: "wkshp" in ASCII. */
const LOCK_KEY = 0x776b736870;

export class MigrationError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "MigrationError";
    }
}

export function clientConfig(connection: Connection): ClientConfig {
    // As libpq: require encrypts without verifying, verify-ca checks the chain, verify-full the host name too.
    const ca = connection.ca === undefined ? {} : { ca: connection.ca };
    const ssl = {
        disable: false as const,
        require: { rejectUnauthorized: false },
        "verify-ca": { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined },
        "verify-full": { ...ca, rejectUnauthorized: true },
    }[connection.sslMode];
    return {
        host: connection.host,
        port: connection.port,
        user: connection.user,
        password: connection.password,
        database: connection.database,
        ssl,
        connectionTimeoutMillis: 15_000,
        application_name: "workshop-postgres-migrations",
    };
}

function quoteIdentifier(name: string): string {
    return `"${name.replace(/"/g, "\"\"")}"`;
}

async function withClient<T>(connection: Connection, work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client(clientConfig(connection));
    try {
        await client.connect();
    } catch (error) {
        // The message names the address and database, never the password.
        throw new MigrationError(`cannot connect to PostgreSQL at ${connection.host}:${connection.port} database "${connection.database}" ` +
            `as ${connection.user}: ${(error as Error).message}`);
    }
    try {
        return await work(client);
    } finally {
        await client.end();
    }
}

async function readLedger(client: Client, schema: string): Promise<AppliedFile[]> {
    const table = `${quoteIdentifier(schema)}.${LEDGER_TABLE}`;
    const exists = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
    if (!exists.rows[0].present) {
        return [];
    }
    const rows = await client.query(`SELECT filename AS name, checksum FROM ${table} ORDER BY filename`);
    return rows.rows as AppliedFile[];
}

/** What the ledger records, without changing anything. */
export function recordedFiles(connection: Connection, schema: string): Promise<AppliedFile[]> {
    return withClient(connection, (client) => readLedger(client, schema));
}

/** Applies the pending files in order; a failing file leaves nothing of itself behind. */
export function applySqlFiles(connection: Connection, schema: string, files: readonly SqlFile[]): Promise<MigrationResult> {
    const table = `${quoteIdentifier(schema)}.${LEDGER_TABLE}`;
    return withClient(connection, async (client) => {
        await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
        try {
            await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
            await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
                filename   text PRIMARY KEY,
                checksum   text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
                applied_at timestamptz NOT NULL DEFAULT now(),
                applied_by text NOT NULL DEFAULT current_user
            )`);
            await client.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
            const pending = pendingFiles(files, await readLedger(client, schema));
            for (const file of pending) {
                await applyOne(client, schema, table, file);
            }
            return { applied: pending.map((file) => file.name), recorded: await readLedger(client, schema) };
        } finally {
            await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
        }
    });
}

async function applyOne(client: Client, schema: string, table: string, file: SqlFile): Promise<void> {
    const statements = splitStatements(file.sql);
    await client.query("BEGIN");
    try {
        // Unqualified names in the files land in the configured schema.
        await client.query(`SET LOCAL search_path TO ${quoteIdentifier(schema)}`);
        for (const [index, statement] of statements.entries()) {
            try {
                await client.query(statement.text);
            } catch (error) {
                const dbError = error as DatabaseError;
                const line = dbError.position ? lineOfPosition(statement, Number(dbError.position)) : statement.line;
                const firstLine = statement.text.split("\n")[0].slice(0, 80);
                throw new MigrationError(`sql/${file.name}: line ${line}, statement ${index + 1} (${firstLine}): ${dbError.message}; ` +
                    "the file was rolled back and nothing of it was applied");
            }
        }
        await client.query(`INSERT INTO ${table} (filename, checksum) VALUES ($1, $2)`, [file.name, file.checksum]);
        await client.query("COMMIT");
    } catch (error) {
        await client.query("ROLLBACK");
        throw error;
    }
}

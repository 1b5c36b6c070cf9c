import * as pulumi from "@pulumi/pulumi";
import { applySqlFiles, Connection, LEDGER_ACCESS, recordedFiles } from "./migrationRunner";
import { checksumOf, driftProblem, FILE_NAME, SqlFile } from "./sqlPlan";

/** What the engine stores: checksums by file name (shown by preview) and the texts to apply. */
export interface SqlMigrationsInputs {
    readonly connection: Connection;
    readonly schema: string;
    /** File name → SHA-256; preview shows an added key as a file that will be applied. */
    readonly files: Record<string, string>;
    /** File name → SQL text. */
    readonly sources: Record<string, string>;
    /** What every run enforces on the ledger; a state without it (an older stack) gets an update that does. */
    readonly ledgerAccess: typeof LEDGER_ACCESS;
}

export interface SqlMigrationsOutputs extends SqlMigrationsInputs {
    /** Files this resource's last create or update applied. */
    readonly applied: string[];
    /** Files the database's ledger records. */
    readonly recorded: string[];
}

function filesOf(inputs: SqlMigrationsInputs): SqlFile[] {
    return Object.keys(inputs.files).sort().map((name) => ({ name, checksum: inputs.files[name], sql: inputs.sources[name] }));
}

// Not named like any global (mocha defines `run`): the serializer would take it for the global and not capture it.
async function applyInputs(inputs: SqlMigrationsInputs): Promise<SqlMigrationsOutputs> {
    const result = await applySqlFiles(inputs.connection, inputs.schema, filesOf(inputs));
    return { ...inputs, applied: result.applied, recorded: result.recorded.map((file) => file.name) };
}

/**
 * Applies the SQL files of `sql/` in order. Runs in the engine's dynamic-provider process, so it
 * reaches the database only through its (secret) inputs and the modules it captures.
 */
export const sqlMigrationsProvider: pulumi.dynamic.ResourceProvider<SqlMigrationsInputs, SqlMigrationsOutputs> = {
    async check(olds, news) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        for (const [name, checksum] of Object.entries(news.files ?? {})) {
            if (!FILE_NAME.test(name)) {
                failures.push({ property: "files", reason: `sql/${name}: expected a name like 001_create_table.sql` });
            } else if (checksumOf(news.sources?.[name] ?? "") !== checksum) {
                failures.push({ property: "sources", reason: `sql/${name}: its text does not match its checksum` });
            }
            const drift = driftProblem(name, olds?.files?.[name], checksum);
            if (drift) {
                failures.push({ property: "files", reason: drift });
            }
        }
        return { inputs: news, failures };
    },

    async diff(_id, olds, news) {
        const changed = JSON.stringify(olds.files) !== JSON.stringify(news.files) ||
            olds.connection.database !== news.connection.database || olds.schema !== news.schema || olds.ledgerAccess !== news.ledgerAccess;
        // A new address or password reaches the same database: nothing to apply.
        return { changes: changed };
    },

    async create(inputs) {
        const outs = await applyInputs(inputs);
        return { id: `${inputs.connection.database}/${inputs.schema}`, outs };
    },

    async update(_id, _olds, news) {
        return { outs: await applyInputs(news) };
    },

    // `pulumi refresh` takes the database's ledger as the truth: files it lacks (a restored or
    // re-initialised volume) drop out of the state, so the next update applies them again.
    async read(id, props) {
        if (props === undefined) {
            throw new Error("SqlMigrations cannot be imported: let `pulumi up` create it; files the ledger records are not applied again");
        }
        const ledger = await recordedFiles(props.connection, props.schema);
        const files = Object.fromEntries(ledger.filter((file) => props.sources[file.name] !== undefined).map((file) => [file.name, file.checksum]));
        return { id, props: { ...props, files, recorded: ledger.map((file) => file.name) } };
    },

    // Deleting the resource keeps the tables and the ledger; the schema resource decides about data.
    async delete() {
        return;
    },
};

export interface SqlMigrationsArgs {
    /** Where to apply; stored as a secret because it holds the password. */
    readonly connection: pulumi.Input<Connection>;
    /** Schema the files' unqualified names land in; it also holds the ledger table. */
    readonly schema: pulumi.Input<string>;
    /** The files, in any order; they apply in name order. */
    readonly files: readonly SqlFile[];
}

/** Versioned SQL files applied once each, in order, in one transaction per file. */
export class SqlMigrations extends pulumi.dynamic.Resource {
    public declare readonly applied: pulumi.Output<string[]>;
    public declare readonly recorded: pulumi.Output<string[]>;
    public declare readonly files: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: SqlMigrationsArgs, opts?: pulumi.CustomResourceOptions) {
        super(sqlMigrationsProvider, name, {
            connection: pulumi.secret(args.connection),
            schema: args.schema,
            files: Object.fromEntries(args.files.map((file) => [file.name, file.checksum])),
            sources: Object.fromEntries(args.files.map((file) => [file.name, file.sql])),
            ledgerAccess: LEDGER_ACCESS,
            applied: undefined,
            recorded: undefined,
        }, { ...opts, additionalSecretOutputs: ["connection"] });
    }
}

import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import type { Endpoint } from "../kube/endpoint";
import { DEFAULTS, SslMode } from "../config/settings";
import type { SqlFile } from "./sqlPlan";
import { SqlMigrations } from "./sqlMigrations";
import { writeCaFile } from "../tls/caFile";

/** What the application role may do with each kind of object in the schema. */
const APP_PRIVILEGES = [
    ["table", ["SELECT", "INSERT", "UPDATE", "DELETE"]],
    ["sequence", ["USAGE", "SELECT"]],
] as const;

export interface WorkshopSchemaArgs {
    /** Address the deploying machine uses to reach PostgreSQL. */
    readonly endpoint: pulumi.Input<Endpoint>;
    /** TLS mode of those connections (default "verify-full"). */
    readonly sslMode?: SslMode;
    /** PEM of the stack's CA, which those connections verify the server with; without it the system's CAs. */
    readonly caCertificate?: pulumi.Input<string>;
    /** Superuser that owns the schema and applies the SQL files. */
    readonly superuser: string;
    readonly superuserPassword: pulumi.Input<string>;
    /** Database to work in; the exact name, upper case included. */
    readonly database: string;
    /** Schema for the tables (default "workshop"). */
    readonly schemaName?: string;
    /** Login role for applications (default "workshop_app"): read and write on the schema's tables, nothing else. */
    readonly appUser?: string;
    readonly appPassword: pulumi.Input<string>;
    /** The versioned SQL files. */
    readonly files: readonly SqlFile[];
    /** Let `pulumi destroy` drop the schema and its tables (default false: kept). */
    readonly allowDataDeletion?: boolean;
    /** Resources that must be ready before any connection is made (the Deployment). */
    readonly readyAfter: pulumi.Input<pulumi.Resource>[];
}

/** The WORKSHOP database's objects: application role, schema, grants, and the tables and rows of `sql/`. */
export class WorkshopSchema extends pulumi.ComponentResource {
    public readonly schemaName: string;
    public readonly appUser: string;
    /** Files the database's ledger records after this update. */
    public readonly recordedFiles: pulumi.Output<string[]>;
    /** Connected as the superuser once the server is ready; other components create roles through it. */
    public readonly provider: postgresql.Provider;

    constructor(name: string, args: WorkshopSchemaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("workshop:database:WorkshopSchema", name, {}, opts);

        const sslMode = args.sslMode ?? DEFAULTS.sslMode;
        const schemaName = args.schemaName ?? DEFAULTS.schemaName;
        const appUser = args.appUser ?? DEFAULTS.appUser;
        const retainData = !(args.allowDataDeletion ?? false);
        this.schemaName = schemaName;
        this.appUser = appUser;
        const endpoint = pulumi.output(args.endpoint);

        const provider = new postgresql.Provider(`${name}-provider`, {
            host: endpoint.host,
            port: endpoint.port,
            username: args.superuser,
            password: args.superuserPassword,
            database: args.database,
            sslmode: sslMode,
            // A path the provider reads on every connection, the same on every run and machine (tls/caFile.ts).
            sslrootcert: args.caCertificate && pulumi.output(args.caCertificate).apply((pem) => writeCaFile(pulumi.getStack(), pem)),
            superuser: true,
            connectTimeout: 30,
        }, { parent: this, dependsOn: args.readyAfter });
        this.provider = provider;
        const inDatabase = { parent: this, provider };

        const role = new postgresql.Role(`${name}-app-role`, {
            name: appUser,
            login: true,
            password: args.appPassword,
        }, inDatabase);

        const schema = new postgresql.Schema(`${name}-schema`, {
            name: schemaName,
            database: args.database,
            owner: args.superuser,
            dropCascade: !retainData,
        }, { ...inDatabase, retainOnDelete: retainData });

        const usage = new postgresql.Grant(`${name}-schema-usage`, {
            database: args.database,
            schema: schema.name,
            role: role.name,
            objectType: "schema",
            privileges: ["USAGE"],
        }, inDatabase);

        // Tables and sequences the superuser creates later are granted as they appear.
        const futureGrants = APP_PRIVILEGES.map(([objectType, privileges]) => new postgresql.DefaultPrivileges(`${name}-future-${objectType}s`, {
            database: args.database,
            schema: schema.name,
            owner: args.superuser,
            role: role.name,
            objectType,
            privileges: [...privileges],
        }, inDatabase));

        const migrations = new SqlMigrations(`${name}-sql`, {
            connection: pulumi.all([endpoint, args.superuserPassword, args.caCertificate]).apply(([{ host, port }, password, ca]) => ({
                host, port, password, user: args.superuser, database: args.database, sslMode, ...(ca === undefined ? {} : { ca }),
            })),
            schema: schema.name,
            files: args.files,
        }, { parent: this, dependsOn: [usage, ...futureGrants] });

        // Tables that existed before the default privileges did (an older stack) are granted too.
        for (const [objectType, privileges] of APP_PRIVILEGES) {
            new postgresql.Grant(`${name}-existing-${objectType}s`, {
                database: args.database,
                schema: schema.name,
                role: role.name,
                objectType,
                privileges: [...privileges],
            }, { ...inDatabase, dependsOn: [migrations] });
        }

        this.recordedFiles = migrations.recorded;
        this.registerOutputs({ schemaName, appUser, recordedFiles: this.recordedFiles });
    }
}

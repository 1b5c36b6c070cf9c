/**
 * The stack's database on a system PostgreSQL, and the backup pods of a program run, run the way
 * the kubelet would run them; shared by the backup tests and the benchmark.
 */
import * as path from "path";
import { applySqlFiles } from "../schema/migrationRunner";
import { readSqlFiles } from "../schema/sqlFiles";
import { Exit, ImageStandIn, materialise, Materialised, POSTGRES_IMAGE, runInContainer } from "./kubelet";
import type { ProgramRun, RecordedResource } from "./program";
import type { SystemServer } from "./systemPostgres";

export const BACKUP_CLAIM = "postgres-backup-storage";
const SERVICE_HOST = "postgres.workshop.svc.cluster.local";
const POD = { name: "postgres-backup-29012345-abcde", node: "kind-worker", ip: "10.244.0.20" };

/**
 * The role as the postgresql provider creates it from the program's Role inputs: CREATE ROLE, then
 * one GRANT per member role, made by the provider's superuser. PostgreSQL 16+ records such a grant
 * as made by the bootstrap superuser, and pg_dumpall writes it `GRANTED BY` that role.
 */
function createRole(role: RecordedResource): string {
    const { name, password, roles = [], bypassRowLevelSecurity, connectionLimit } = role.inputs;
    return [
        `CREATE ROLE "${name}" LOGIN PASSWORD '${String(password).replace(/'/g, "''")}'` +
            `${bypassRowLevelSecurity ? " BYPASSRLS" : ""}${connectionLimit ? ` CONNECTION LIMIT ${connectionLimit}` : ""}`,
        ...roles.map((member: string) => `GRANT "${member}" TO "${name}"`),
    ].join(";\n");
}

/** What `pulumi up` leaves: the WORKSHOP database, the application and backup roles, the files of sql/. */
export async function seedWorkshop(server: SystemServer, run: ProgramRun): Promise<void> {
    await server.query("postgres", "CREATE DATABASE \"WORKSHOP\"");
    await server.query("postgres", createRole(run.named("postgresql:index/role:Role", "workshop-app-role")));
    await server.query("postgres", createRole(run.named("postgresql:index/role:Role", "postgres-backup-role")));
    await applySqlFiles(server.connection("WORKSHOP"), "workshop", readSqlFiles(path.resolve(__dirname, "../sql")));
}

/**
 * The image's PATH: the postgres image stand-in's PostgreSQL 18 server programs (initdb, pg_ctl,
 * postgres), so the restore check's throwaway server is the image's major version and applies its
 * rules to the roles file; then the clients of the test server's own major (pg_dump, pg_dumpall,
 * pg_restore, psql), since pg_dump refuses a server newer than itself.
 */
export function imagePath(server: SystemServer): string {
    return `/opt/image/bin:${server.bin}:/usr/local/bin:/usr/bin:/bin`;
}

function backupImage(server: SystemServer): ImageStandIn {
    return { programs: POSTGRES_IMAGE.programs, path: imagePath(server), stopSignal: POSTGRES_IMAGE.stopSignal, users: POSTGRES_IMAGE.users };
}

/** The backup container of a CronJob's pod or of a restore pod; `claims` maps claim names to directories. */
export function backupContainer(run: ProgramRun, workload: Pick<RecordedResource, "inputs">, claims: Record<string, string>): Materialised {
    return materialise(run, workload, "backup", POD, claims);
}

export function jobCommand(run: ProgramRun): string[] {
    return run.one("kubernetes:batch/v1:CronJob").inputs.spec.jobTemplate.spec.template.spec.containers[0].command;
}

/**
 * Runs a command in a backup container as uid 999 (the image's postgres user), with the Service's
 * name answering on loopback and its port the test server's: the only changes from the cluster.
 */
export function inBackupContainer(server: SystemServer, pod: Materialised, command: readonly string[], env: Record<string, string> = {}): Promise<Exit> {
    return runInContainer(pod, backupImage(server), command, {
        hosts: { [SERVICE_HOST]: "127.0.0.1" },
        env: { PGPORT: String(server.port), ...env },
    });
}

/**
 * npm run restore -- <backup> --yes-overwrite-<DATABASE>     restore a backup into the stack's database
 * npm run restore -- --list                                  list the verified backups
 *
 * The backups live on a volume in the cluster, so the restore runs there: a pod of the postgres
 * image with the backup volume mounted read-only runs backup/backup.sh as the superuser, and
 * `kubectl run -i --rm` streams its log and returns its exit code. Nothing is asked of Pulumi or
 * Kubernetes until the arguments are right, the confirmation naming the database exactly.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { restoreConfirmation, restorePod, RestoreTarget } from "./backupSpec";

export class UsageError extends Error {}

const USAGE = "usage: npm run restore -- <backup> --yes-overwrite-<DATABASE>   (or: npm run restore -- --list)";
const BACKUP = /^([A-Za-z_][A-Za-z0-9_]{0,62})-\d{8}T\d{6}Z$/;

/** The backup script's arguments for these command-line arguments; throws a UsageError before anything runs. */
export function parseRestoreArgs(argv: readonly string[]): string[] {
    if (argv.length === 1 && argv[0] === "--list") {
        return ["list"];
    }
    if (argv.length !== 2) {
        throw new UsageError(`expected a backup name and the confirmation; ${USAGE}`);
    }
    const [backup, confirmation] = argv;
    const database = BACKUP.exec(backup)?.[1];
    if (database === undefined) {
        throw new UsageError(`"${backup}" is not a backup name such as WORKSHOP-20260101T021500Z (see npm run restore -- --list); ${USAGE}`);
    }
    if (confirmation !== restoreConfirmation(database)) {
        throw new UsageError(`refusing to restore ${backup} without ${restoreConfirmation(database)}: ` +
            `the restore replaces every table of database ${database} that the backup holds`);
    }
    return ["restore", backup, confirmation];
}

export interface Exec {
    /** Runs a program; `inherit` streams its output to this terminal. */
    (program: string, args: readonly string[], inherit: boolean): { status: number | null; stdout: string };
}

const execReal: Exec = (program, args, inherit) => {
    const result = spawnSync(program, args, {
        cwd: path.resolve(__dirname, ".."),
        encoding: "utf8",
        stdio: inherit ? "inherit" : ["ignore", "pipe", "inherit"],
    });
    if (result.error) {
        throw new Error(`${program}: ${result.error.message}`);
    }
    return { status: result.status, stdout: result.stdout ?? "" };
};

/** Runs the restore (or the listing); returns the exit code. */
export function restore(argv: readonly string[], exec: Exec = execReal): number {
    let scriptArgs: string[];
    try {
        scriptArgs = parseRestoreArgs(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) {
            throw error;
        }
        console.error(`restore: ${error.message}`);
        return 2;
    }
    const output = exec("bash", ["scripts/pulumi.sh", "stack", "output", "backupRestore", "--json"], false);
    if (output.status !== 0 || output.stdout.trim() === "" || output.stdout.trim() === "null") {
        console.error("restore: the stack exports no backupRestore output; is backupEnabled true and the stack deployed (npm run up)?");
        return 1;
    }
    const target = JSON.parse(output.stdout) as RestoreTarget;
    if (scriptArgs[0] === "restore" && scriptArgs[2] !== restoreConfirmation(target.database)) {
        console.error(`restore: the stack's database is ${target.database}; ${scriptArgs[1]} is a backup of another database`);
        return 2;
    }
    const pod = restorePod(target, scriptArgs);
    const run = exec("kubectl", [
        "run", pod.metadata.name, "--namespace", target.namespace, `--image=${target.image}`,
        "--restart=Never", "--rm", "-i", "--quiet", "--pod-running-timeout=10m", `--overrides=${JSON.stringify(pod)}`,
    ], true);
    return run.status ?? 1;
}

if (require.main === module) {
    process.exitCode = restore(process.argv.slice(2));
}

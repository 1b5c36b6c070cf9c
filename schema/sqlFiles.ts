/** Reads the versioned SQL files of a directory (the program's only file I/O for the schema). */
import * as fs from "fs";
import * as path from "path";
import { FILE_NAME, MigrationPlanError, SqlFile, sqlFile } from "./sqlPlan";

/** Reads every `NNN_name.sql` of a directory in order; any other file there is an error, not silently skipped. */
export function readSqlFiles(directory: string): SqlFile[] {
    const names = fs.readdirSync(directory).filter((name) => name !== "README.md").sort();
    const misnamed = names.filter((name) => !FILE_NAME.test(name));
    if (misnamed.length > 0) {
        throw new MigrationPlanError(`${directory}: ${misnamed.join(", ")}: expected file names like 001_create_table.sql (three digits, '_', lower-case words, .sql)`);
    }
    return names.map((name) => sqlFile(name, fs.readFileSync(path.join(directory, name), "utf8")));
}

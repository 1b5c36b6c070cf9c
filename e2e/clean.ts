/**
 * `npm run test:e2e:clean [-- --dry-run]`: removes the directories that earlier end-to-end runs
 * kept (a failed run, or E2E_KEEP=1), and only those: entries of the temporary directory named
 * `workshop-e2e-XXXXXX`, real directories owned by this user, whose run has ended, that no process
 * uses and that hold no mount. Everything else is listed with why it stays.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { candidate, isRunDirName, mib, processesUsing, removeRunDir, treeFacts, verdict } from "./runDirs";

function main(): number {
    const dryRun = process.argv.includes("--dry-run");
    const tmp = fs.realpathSync(os.tmpdir());
    const dirs = fs.readdirSync(tmp).filter(isRunDirName).map((name) => path.join(tmp, name));
    const users = processesUsing(dirs);
    let removed = 0;
    let freed = 0;
    let failed = 0;
    for (const dir of dirs) {
        const seen = candidate(dir, users.get(dir) ?? []);
        const decision = verdict(seen, Date.now());
        if (!decision.remove) {
            console.log(`kept     ${dir}: ${decision.why}`);
            continue;
        }
        if (dryRun) {
            console.log(`would remove ${dir} (${mib(treeFacts(dir).bytes)})`);
            continue;
        }
        try {
            const bytes = removeRunDir(dir);
            removed += 1;
            freed += bytes;
            console.log(`removed  ${dir} (${mib(bytes)})`);
        } catch (error) {
            failed += 1;
            console.log(`FAILED   ${dir}: ${(error as Error).message}`);
        }
    }
    console.log(`${dirs.length} run director${dirs.length === 1 ? "y" : "ies"} in ${tmp}: ` +
        (dryRun ? "nothing removed (--dry-run)" : `${removed} removed (${mib(freed)}), ${dirs.length - removed - failed} kept${failed ? `, ${failed} failed` : ""}`));
    return failed > 0 ? 1 : 0;
}

process.exit(main());

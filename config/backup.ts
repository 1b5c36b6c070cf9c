/** Backups: the schedule, how many to keep, their volume, and the role the dumps run as. */
import { scheduleIntervalSeconds, ScheduleError } from "./schedule";
import { passwordProblem, readStorageClass, roleProblem, STORAGE_FORM } from "./database";
import { DEFAULTS, LIMITS } from "./defaults";
import { Reader } from "./reader";
import type { BackupSettings } from "./types";
import { bytesProblem } from "./values";

function scheduleProblem(schedule: string): string | undefined {
    try {
        scheduleIntervalSeconds(schedule);
        return undefined;
    } catch (error) {
        if (!(error instanceof ScheduleError)) {
            throw error;
        }
        return "a cron schedule in UTC, five fields (minute hour day-of-month month day-of-week) such as \"15 2 * * *\" " +
            `or a macro such as @daily; ${error.message}`;
    }
}

/** `otherRoles`: dbUser and appUser, which the backup role must not be. */
export function readBackup(reader: Reader, otherRoles: readonly string[]): BackupSettings {
    const enabled = reader.flag("backupEnabled", DEFAULTS.backupEnabled);
    const schedule = reader.text("backupSchedule", DEFAULTS.backupSchedule, scheduleProblem);
    const user = reader.text("backupUser", DEFAULTS.backupUser, roleProblem);
    if (otherRoles.includes(user)) {
        reader.bad("backupUser", "a role of its own, other than dbUser and appUser (it may read everything and write nothing)", user);
    }
    reader.secret("backupPassword", "the password of the backup role", { required: enabled, check: passwordProblem });
    return {
        enabled,
        schedule,
        keep: reader.integer("backupKeep", "backups to keep") ?? DEFAULTS.backupKeep,
        storageSize: reader.text("backupStorageSize", DEFAULTS.backupStorageSize,
            (value) => bytesProblem(value, LIMITS.backupStorageSize, STORAGE_FORM)),
        storageClass: readStorageClass(reader, "backupStorageClass"),
        user,
    };
}

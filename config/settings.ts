/**
 * Stack configuration, parsed and validated by pure functions before any resource exists, one file
 * per section (database, schema, alerts, watcher, backup), value grammars in
 * values.ts and every default and limit in defaults.ts.
 *
 * Every problem names the full config key and the form it expects, and quotes a bad value only
 * briefly. Values of secret keys are checked, never quoted.
 */
import { readAlerts } from "./alerts";
import { readBackup } from "./backup";
import { readDatabase } from "./database";
import { refuseUnknownKeys } from "./keys";
import { Reader } from "./reader";
import { readSchema } from "./schema";
import { ConfigError, ConfigSource, Settings } from "./types";
import { readWatcher } from "./watcher";

export { DEFAULTS, KEYS, LIMITS, SERVICE_TYPES, SSL_MODES } from "./defaults";
export type { ServiceType, SslMode } from "./defaults";
export { ConfigError, PROJECT } from "./types";
export type {
    AlertSettings, BackupSettings, ComputeResources, ConfigSource, SchemaSettings, Settings, WatcherSettings,
} from "./types";

/** Parses the stack's configuration; throws one ConfigError listing every problem. */
export function parseSettings(source: ConfigSource): Settings {
    const reader = new Reader(source);
    refuseUnknownKeys(reader);
    const { serviceTypeValid, ...database } = readDatabase(reader);
    const schema = readSchema(reader, serviceTypeValid ? database.serviceType : undefined, database.dbUser);
    const alert = readAlerts(reader);
    const watcher = readWatcher(reader);
    const backup = readBackup(reader, [database.dbUser, schema.appUser]);
    if (reader.problems.length > 0) {
        throw new ConfigError(reader.problems);
    }
    return { ...database, schema, alert, watcher, backup };
}

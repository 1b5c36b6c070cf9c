/**
 * Stack configuration, parsed and validated by pure functions before any resource exists, one file
 * per section (database, schema, alerts, watcher, backup, where the stack may run), value grammars in
 * values.ts and every default and limit in defaults.ts.
 *
 * Every problem names the full config key and the form it expects, and quotes a bad value only
 * briefly. Values of secret keys are checked, never quoted.
 */
import type { ClusterLocality } from "./exposure";
import { readAlerts } from "./alerts";
import { readBackup } from "./backup";
import { readDatabase } from "./database";
import { readExposure, refuseReachableCluster } from "./exposure";
import { refuseUnknownKeys } from "./keys";
import { Reader } from "./reader";
import { readSchema } from "./schema";
import { readTls } from "./tls";
import { ConfigError, ConfigSource, Settings } from "./types";
import { readWatcher } from "./watcher";

export { DEFAULTS, FORWARD_PORT, KEYS, LIMITS, SERVICE_TYPES, SSL_MODES } from "./defaults";
export type { ServiceType, SslMode } from "./defaults";
export { ConfigError, PROJECT } from "./types";
export type {
    AlertSettings, BackupSettings, ComputeResources, ConfigSource, ExposureSettings, SchemaSettings, Settings, TlsSettings, WatcherSettings,
} from "./types";
export { tlsWarning } from "./tls";

export interface ParseOptions {
    /** Whether the cluster is local; read only for a stack whose credentials are public. */
    readonly cluster?: () => ClusterLocality;
}

/** Parses the stack's configuration; throws one ConfigError listing every problem. */
export function parseSettings(source: ConfigSource, options: ParseOptions = {}): Settings {
    const reader = new Reader(source);
    refuseUnknownKeys(reader);
    const { serviceTypeValid, ...database } = readDatabase(reader);
    const schema = readSchema(reader, serviceTypeValid ? database.serviceType : undefined, database.dbUser);
    const exposure = readExposure(reader);
    const alert = readAlerts(reader, exposure);
    const watcher = readWatcher(reader);
    const backup = readBackup(reader, [database.dbUser, schema.appUser]);
    const tls = readTls(reader, schema.route);
    refuseReachableCluster(reader, exposure, options.cluster);
    if (reader.problems.length > 0) {
        throw new ConfigError(reader.problems);
    }
    return { ...database, schema, alert, watcher, backup, exposure, tls };
}

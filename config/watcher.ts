/** The pod watcher: on or off, and how long a pod may be NotReady before it counts as down. */
import { DEFAULTS } from "./defaults";
import { Reader } from "./reader";
import type { WatcherSettings } from "./types";

export function readWatcher(reader: Reader): WatcherSettings {
    return {
        enabled: reader.flag("watcherEnabled", DEFAULTS.watcherEnabled),
        notReadySeconds: reader.integer("watcherNotReadySeconds", "seconds") ?? DEFAULTS.watcherNotReadySeconds,
    };
}

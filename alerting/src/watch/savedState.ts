/** The files the watcher keeps in its emptyDir, which outlives a container restart: its state and its probe verdicts. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BackupState } from "./backups";
import type { WatchState } from "./decide";
import type { Outage, Watched } from "./health";
import type { Mail } from "./mail";

const STATE_FILE = "state.json";
/** A probe file holds the time until which it is true, so a stuck event loop lets it lapse. */
const PROBE_VALIDITY_MS = 15_000;

/** What a restarted container carries on from (never a secret: pod and Job facts and times). */
export interface SavedState {
    readonly version: 2;
    /** Until when the previous process knew each cache matched the API. */
    readonly sureUntil: Partial<Record<Watched, number>>;
    readonly watch: WatchState;
    readonly backups?: BackupState;
    readonly outage?: Outage;
    /** Mails it could not finish before it stopped: handed over. */
    readonly pending: readonly Mail[];
}

/** Write-then-rename, so a probe or a restarted container never reads half a file. */
function writeAtomically(file: string, text: string): void {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
}

export function readSavedState(dir: string, onUnreadable: (error: Error) => void): SavedState | undefined {
    const file = path.join(dir, STATE_FILE);
    if (!fs.existsSync(file)) {
        return undefined;
    }
    try {
        const saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedState;
        return saved.version === 2 ? saved : undefined;
    } catch (error) {
        onUnreadable(error as Error);
        return undefined;
    }
}

export function writeSavedState(dir: string, state: SavedState): void {
    writeAtomically(path.join(dir, STATE_FILE), JSON.stringify(state));
}

/** The verdicts the exec probes read: the second until which each holds, or 0. */
export function writeProbeFiles(dir: string, verdict: { readonly ready: boolean; readonly live: boolean }, at: number): void {
    // A line with its newline: the shell's read fails on a last line without one.
    const until = `${Math.ceil((at + PROBE_VALIDITY_MS) / 1000)}\n`;
    writeAtomically(path.join(dir, "ready"), verdict.ready ? until : "0\n");
    writeAtomically(path.join(dir, "live"), verdict.live ? until : "0\n");
}

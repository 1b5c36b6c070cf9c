/**
 * The tests' one clock. Pure tests pass their own instants to the code under test. Tests that run
 * real processes (the watcher, the mailer, PostgreSQL, backup.sh) share the machine's clock with
 * them, as containers share their node's, so every timestamp a fixture hands those processes is
 * taken relative to this clock here, never written as a date. `npm run test:clock` moves the
 * machine's clock a year each way (libfaketime) to keep it so.
 */

export const MINUTE = 60_000;

/** When this test process started: fixtures that must not move during a test are dated from it. */
export const STARTED_AT = Date.now();

/** The ISO timestamp `ms` milliseconds before `from` (default: now). */
export function ago(ms: number, from = Date.now()): string {
    return new Date(from - ms).toISOString();
}

/** libfaketime's variables, when set: a process started with an environment of its own keeps the shifted clock. */
export function clockEnv(): Record<string, string> {
    return Object.fromEntries(Object.entries(process.env)
        .filter((entry): entry is [string, string] => entry[1] !== undefined && /^(LD_PRELOAD|FAKETIME\w*)$/.test(entry[0])));
}

/**
 * The files of libfaketime's shared clock under /dev/shm, when set: a container, which has a /dev/shm
 * of its own, is given these two so that its processes, of any user, keep the shifted clock.
 */
export function clockShmFiles(): string[] {
    const shared = process.env.LD_PRELOAD?.includes("faketime") ? process.env.FAKETIME_SHARED : undefined;
    if (!shared) {
        return [];
    }
    const [semaphore, memory] = shared.split(" ");
    return [`sem.${semaphore.replace(/^\//, "")}`, memory.replace(/^\//, "")];
}

/**
 * Cron schedules as Kubernetes CronJobs read them (robfig/cron's standard parser: five fields or
 * a named macro), checked before anything is deployed, and the longest interval between two runs,
 * which is what a watcher needs to tell a late backup from a schedule that is merely sparse.
 * Pure: no clock, no I/O.
 */

interface FieldRule {
    readonly name: string;
    readonly min: number;
    readonly max: number;
    readonly names?: readonly string[];
}

const FIELDS: readonly FieldRule[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
    { name: "day of week", min: 0, max: 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

const MACROS: Record<string, string> = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
};

export interface Schedule {
    readonly minutes: ReadonlySet<number>;
    readonly hours: ReadonlySet<number>;
    readonly daysOfMonth: ReadonlySet<number>;
    readonly months: ReadonlySet<number>;
    readonly daysOfWeek: ReadonlySet<number>;
    /** Both day fields restricted: a day matches when either does (cron's rule); otherwise both must. */
    readonly eitherDay: boolean;
}

export class ScheduleError extends Error {}

function value(text: string, rule: FieldRule): number {
    const named = rule.names?.indexOf(text.toLowerCase()) ?? -1;
    if (named >= 0) {
        return rule.min + named;
    }
    if (!/^\d+$/.test(text)) {
        throw new ScheduleError(`${rule.name} "${text}" is not a number${rule.names ? " or a name" : ""}`);
    }
    const number = Number(text);
    if (number < rule.min || number > rule.max) {
        throw new ScheduleError(`${rule.name} ${number} is outside ${rule.min}-${rule.max}`);
    }
    return number;
}

/** One field: `*`, `?`, `N`, `N-M`, each with an optional `/STEP`, comma-separated. */
function field(text: string, rule: FieldRule): { values: Set<number>; star: boolean } {
    const values = new Set<number>();
    for (const part of text.split(",")) {
        const [range, stepText, extra] = part.split("/");
        if (extra !== undefined || range === "" || stepText === "") {
            throw new ScheduleError(`${rule.name} "${part}" is not a value, a range or a step`);
        }
        const step = stepText === undefined ? 1 : Number(stepText);
        if (!Number.isInteger(step) || step < 1 || !/^\d+$/.test(stepText ?? "1")) {
            throw new ScheduleError(`${rule.name} step "${stepText}" is not a positive whole number`);
        }
        let low: number;
        let high: number;
        if (range === "*" || range === "?") {
            [low, high] = [rule.min, rule.max];
        } else {
            const [first, last, more] = range.split("-");
            if (more !== undefined) {
                throw new ScheduleError(`${rule.name} "${range}" is not a range`);
            }
            low = value(first, rule);
            // "N/STEP" means from N to the end, as robfig/cron reads it.
            high = last !== undefined ? value(last, rule) : stepText !== undefined ? rule.max : low;
            if (low > high) {
                throw new ScheduleError(`${rule.name} range "${range}" runs backwards`);
            }
        }
        for (let v = low; v <= high; v += step) {
            values.add(v);
        }
    }
    return { values, star: text === "*" || text === "?" };
}

/** Parses a schedule; throws a ScheduleError that says which field is wrong and why. */
export function parseSchedule(text: string): Schedule {
    const trimmed = text.trim();
    if (/^(CRON_)?TZ=/.test(trimmed)) {
        throw new ScheduleError("a time zone prefix is not allowed (Kubernetes refuses it; the schedule runs in UTC)");
    }
    const expanded = trimmed.startsWith("@") ? MACROS[trimmed.toLowerCase()] : trimmed;
    if (expanded === undefined) {
        throw new ScheduleError(`unknown macro ${trimmed} (known: ${Object.keys(MACROS).join(", ")})`);
    }
    const parts = expanded.split(/\s+/);
    if (parts.length !== FIELDS.length) {
        throw new ScheduleError(`${parts.length} fields instead of 5 (minute hour day-of-month month day-of-week)`);
    }
    const [minutes, hours, daysOfMonth, months, daysOfWeek] = parts.map((part, index) => field(part, FIELDS[index]));
    return {
        minutes: minutes.values,
        hours: hours.values,
        daysOfMonth: daysOfMonth.values,
        months: months.values,
        daysOfWeek: daysOfWeek.values,
        eitherDay: !daysOfMonth.star && !daysOfWeek.star,
    };
}

const DAY_SECONDS = 86_400;
/** Four years hold every kind of day a schedule can ask for, 29 February included. */
const CYCLE_DAYS = 4 * 365 + 1;
const CYCLE_START = Date.UTC(2024, 0, 1);

function runsOn(schedule: Schedule, day: Date): boolean {
    const dom = schedule.daysOfMonth.has(day.getUTCDate());
    const dow = schedule.daysOfWeek.has(day.getUTCDay());
    return schedule.months.has(day.getUTCMonth() + 1) && (schedule.eitherDay ? dom || dow : dom && dow);
}

/**
 * The longest time in seconds between two consecutive runs that start within a four-year cycle (so
 * "0 2 * * 1-5" gives the weekend's 3 days, not a weekday's 1). Throws when the schedule never runs
 * (30 February).
 */
export function scheduleIntervalSeconds(text: string): number {
    const schedule = parseSchedule(text);
    const times = [...schedule.hours].sort((a, b) => a - b)
        .flatMap((hour) => [...schedule.minutes].sort((a, b) => a - b).map((minute) => hour * 3600 + minute * 60));
    let previous: number | undefined;
    let longest = 0;
    // One more year past the cycle, so that the run after the cycle's last one is seen too.
    for (let day = 0; day < CYCLE_DAYS + 366; day++) {
        if (!runsOn(schedule, new Date(CYCLE_START + day * DAY_SECONDS * 1000))) {
            continue;
        }
        for (const time of times) {
            const at = day * DAY_SECONDS + time;
            if (previous !== undefined && previous < CYCLE_DAYS * DAY_SECONDS) {
                longest = Math.max(longest, at - previous);
            }
            previous = at;
        }
    }
    if (longest === 0) {
        throw new ScheduleError("it never runs (no day matches)");
    }
    return longest;
}

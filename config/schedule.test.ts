import * as assert from "assert";
import { parseSchedule, scheduleIntervalSeconds } from "./schedule";

const HOUR = 3600;
const DAY = 24 * HOUR;

describe("backup schedules", () => {
    it("reads the five fields, names, ranges, steps and lists as a CronJob does", () => {
        const schedule = parseSchedule("0,30 */6 1-7 JAN,jul mon-fri");
        assert.deepStrictEqual([...schedule.minutes], [0, 30]);
        assert.deepStrictEqual([...schedule.hours], [0, 6, 12, 18]);
        assert.deepStrictEqual([...schedule.daysOfMonth], [1, 2, 3, 4, 5, 6, 7]);
        assert.deepStrictEqual([...schedule.months], [1, 7]);
        assert.deepStrictEqual([...schedule.daysOfWeek], [1, 2, 3, 4, 5]);
        assert.strictEqual(schedule.eitherDay, true);
        assert.deepStrictEqual([...parseSchedule("50/5 * * * *").minutes], [50, 55]);
        assert.strictEqual(parseSchedule("0 0 1 * *").eitherDay, false);
    });

    const intervals: [string, number][] = [
        ["15 2 * * *", DAY],
        ["*/15 * * * *", 15 * 60],
        ["@hourly", HOUR],
        ["@weekly", 7 * DAY],
        // Weekdays only: the weekend is the longest wait, and it is what a "backups stopped" alert must allow.
        ["0 2 * * 1-5", 3 * DAY],
        ["0 8,20 * * *", 12 * HOUR],
        ["30 1 1 */3 *", 92 * DAY],
        // Both day fields set: either matches (1st, 15th or any Monday), as in cron.
        ["0 0 1,15 * 1", 7 * DAY],
        ["0 0 29 2 *", (4 * 365 + 1) * DAY],
    ];
    for (const [schedule, seconds] of intervals) {
        it(`"${schedule}" runs at least every ${seconds / HOUR} h`, () => {
            assert.strictEqual(scheduleIntervalSeconds(schedule), seconds);
        });
    }

    const refused: [string, RegExp][] = [
        ["0 0 * *", /^4 fields instead of 5 \(minute hour day-of-month month day-of-week\)$/],
        ["60 * * * *", /^minute 60 is outside 0-59$/],
        ["0 0 * * 7", /^day of week 7 is outside 0-6$/],
        ["x * * * *", /^minute "x" is not a number$/],
        ["0 0 * foo *", /^month "foo" is not a number or a name$/],
        ["5-1 * * * *", /^minute range "5-1" runs backwards$/],
        ["1-2-3 * * * *", /^minute "1-2-3" is not a range$/],
        ["*/0 * * * *", /^minute step "0" is not a positive whole number$/],
        ["1/2/3 * * * *", /^minute "1\/2\/3" is not a value, a range or a step$/],
        ["1,,2 * * * *", /^minute "" is not a value, a range or a step$/],
        ["@every 1h", /^unknown macro @every 1h \(known: @yearly, /],
        ["TZ=Europe/Paris 0 2 * * *", /^a time zone prefix is not allowed/],
        ["0 0 30 2 *", /^it never runs \(no day matches\)$/],
    ];
    for (const [schedule, message] of refused) {
        it(`refuses "${schedule}": ${message.source.replace(/\\/g, "").replace(/^\^|\$$/g, "")}`, () => {
            assert.throws(() => scheduleIntervalSeconds(schedule), (error: Error) => {
                assert.match(error.message, message);
                return true;
            });
        });
    }
});

/**
 * Reads one key at a time from a ConfigSource and collects every problem, so that one error lists
 * them all. A problem names the full key and the expected form, and quotes a bad value only briefly;
 * a secret's value is never quoted.
 */
import { KEYS, Range } from "./defaults";
import { ConfigSource, PROJECT } from "./types";
import { parseList, quote } from "./values";

export class Reader {
    readonly problems: string[] = [];

    constructor(readonly source: ConfigSource) {}

    /** The raw value, undefined when unset. */
    get(key: string): string | undefined {
        return this.source.get(key);
    }

    /** `key: expected …; got "…"`. */
    bad(key: string, expected: string, got?: string): void {
        this.problems.push(`${PROJECT}:${key}: expected ${expected}${got === undefined ? "" : `; got ${quote(got)}`}`);
    }

    /** `key: <text>`, for problems that are no bad value (a missing key, a conflict between keys). */
    say(key: string, text: string): void {
        this.problems.push(`${PROJECT}:${key}: ${text}`);
    }

    /** The value, or the key's default; `check` returns what was expected when the value does not fit. */
    text(key: string, fallback: string, check?: (value: string) => string | undefined): string {
        const raw = this.get(key);
        if (raw === undefined) {
            return fallback;
        }
        const expected = check?.(raw);
        if (expected !== undefined) {
            this.bad(key, expected, raw);
        }
        return raw;
    }

    /** A required value. */
    required(key: string, missing: string, check?: (value: string) => string | undefined): string | undefined {
        const raw = this.get(key);
        if (raw === undefined) {
            this.say(key, `missing; expected ${missing}`);
            return undefined;
        }
        const expected = check?.(raw);
        if (expected !== undefined) {
            this.bad(key, expected, raw);
        }
        return raw;
    }

    /** A whole number within the key's range (from KEYS); undefined when unset or refused. */
    integer(key: string, what: string): number | undefined {
        const { min, max } = KEYS[key].range as Range;
        const raw = this.get(key);
        if (raw === undefined) {
            return undefined;
        }
        const value = Number(raw);
        if (!/^\d+$/.test(raw) || value < min || value > max) {
            this.bad(key, `${what}: a whole number from ${min} to ${max}`, raw);
            return undefined;
        }
        return value;
    }

    flag(key: string, fallback: boolean): boolean {
        const raw = this.get(key);
        if (raw === undefined) {
            return fallback;
        }
        if (raw !== "true" && raw !== "false") {
            this.bad(key, "true or false", raw);
        }
        return raw === "true";
    }

    /** Undefined when the value is not allowed, so that checks depending on it are skipped. */
    oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T | undefined {
        const raw = this.get(key) ?? fallback;
        if (!(allowed as readonly string[]).includes(raw)) {
            this.bad(key, `one of ${allowed.join(", ")}`, raw);
            return undefined;
        }
        return raw as T;
    }

    /**
     * A list as a JSON array or comma-separated text; empty when unset. `itemProblem` says what is wrong
     * with one item; `required` refuses an empty list as well as a missing one.
     */
    list(key: string, expected: string, itemProblem: (item: string) => string | undefined, required?: string): string[] {
        const raw = this.get(key);
        if (raw === undefined) {
            if (required !== undefined) {
                this.say(key, `missing; expected ${required}`);
            }
            return [];
        }
        const items = parseList(raw);
        if (items === undefined) {
            this.bad(key, expected, raw);
            return [];
        }
        if (items.length === 0 && required !== undefined) {
            this.bad(key, `${expected}; the list is empty`, raw);
            return [];
        }
        const problems = items.map(itemProblem).filter((problem): problem is string => problem !== undefined);
        if (problems.length > 0) {
            this.bad(key, `${expected}; ${problems[0]}`, raw);
            return [];
        }
        return items;
    }

    /**
     * A secret that must be set (when `required`) and usable. Its value is looked at, never quoted:
     * `check` returns what was expected, in words that do not repeat the value.
     */
    secret(key: string, what: string, options: { required: boolean; check?: (value: string) => string | undefined }): boolean {
        if (!this.source.hasSecret(key)) {
            if (options.required) {
                this.say(key, `missing; expected ${what}, set with \`pulumi config set --secret ${key} <value>\``);
            }
            return false;
        }
        const value = this.source.secret?.(key);
        if (value === undefined) {
            return true;
        }
        const expected = value.trim() === "" ? `${what}; it is empty` : options.check?.(value);
        if (expected !== undefined) {
            this.say(key, `expected ${expected} (the value is not shown)`);
        }
        return true;
    }
}

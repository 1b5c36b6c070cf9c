/** Keys of the project's namespace that no part of the stack reads: typos, which would otherwise leave a default in place without a word. */
import { KEYS } from "./defaults";
import { Reader } from "./reader";
import { editDistance, QUOTE_LENGTH } from "./values";

/** The known key a typo most likely meant: the same but for case, or at most two edits away (one for short keys). */
export function nearestKey(unknown: string, known: readonly string[] = Object.keys(KEYS)): string | undefined {
    const lower = unknown.toLowerCase();
    const sameButCase = known.find((key) => key.toLowerCase() === lower);
    if (sameButCase) {
        return sameButCase;
    }
    const allowed = unknown.length <= 5 ? 1 : 2;
    const ranked = known.map((key) => ({ key, distance: editDistance(lower, key.toLowerCase()) }))
        .filter((entry) => entry.distance <= allowed)
        .sort((a, b) => a.distance - b.distance);
    return ranked[0]?.key;
}

export function refuseUnknownKeys(reader: Reader): void {
    for (const key of reader.source.keys?.() ?? []) {
        if (Object.hasOwn(KEYS, key)) {
            continue;
        }
        const near = nearestKey(key);
        const shown = key.length > QUOTE_LENGTH ? `${key.slice(0, QUOTE_LENGTH)}…` : key;
        reader.say(shown, `unknown key, so nothing reads it${near ? `; did you mean ${near}?` : ""} ` +
            `Remove it with \`pulumi config rm ${shown}\`${near ? ` and set ${near} instead` : ""}; every key is listed in docs/configuration.md`);
    }
}

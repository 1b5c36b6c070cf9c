/**
 * Pure planning of versioned SQL files: their names and checksums, splitting them into statements
 * with line numbers, and deciding what to apply against what a database recorded. Reading them from
 * disk is sqlFiles.ts's.
 */
import { createHash } from "crypto";

export interface SqlFile {
    /** File name, such as 001_create_attendees.sql; files apply in name order. */
    readonly name: string;
    /** SHA-256 of the file's text, hex. */
    readonly checksum: string;
    readonly sql: string;
}

export interface AppliedFile {
    readonly name: string;
    readonly checksum: string;
}

export interface Statement {
    readonly text: string;
    /** 1-based line of the statement's first character in its file. */
    readonly line: number;
}

/** `NNN_words.sql`: the number fixes the order at a glance. */
export const FILE_NAME = /^\d{3}_[a-z0-9_]+\.sql$/;

export function checksumOf(sql: string): string {
    return createHash("sha256").update(sql, "utf8").digest("hex");
}

export function sqlFile(name: string, sql: string): SqlFile {
    return { name, sql, checksum: checksumOf(sql) };
}

export class MigrationPlanError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "MigrationPlanError";
    }
}

/** The refusal for an applied file whose text changed; undefined when it is unchanged or not applied. */
export function driftProblem(name: string, recordedChecksum: string | undefined, checksum: string): string | undefined {
    if (recordedChecksum === undefined || recordedChecksum === checksum) {
        return undefined;
    }
    return `sql/${name} was edited after it was applied (checksum ${recordedChecksum.slice(0, 12)}… recorded, ` +
        `${checksum.slice(0, 12)}… now); applied files must not change: restore it and put the change in a new file`;
}

/**
 * The files still to apply. Refuses an applied file whose text changed (drift) and a new file
 * that sorts before one already applied (it would run out of order).
 */
export function pendingFiles(files: readonly SqlFile[], applied: readonly AppliedFile[]): SqlFile[] {
    const appliedByName = new Map(applied.map((file) => [file.name, file.checksum]));
    for (const file of files) {
        const drift = driftProblem(file.name, appliedByName.get(file.name), file.checksum);
        if (drift) {
            throw new MigrationPlanError(drift);
        }
    }
    const pending = files.filter((file) => !appliedByName.has(file.name));
    const lastApplied = [...appliedByName.keys()].sort().pop();
    const early = pending.find((file) => lastApplied !== undefined && file.name < lastApplied);
    if (early) {
        throw new MigrationPlanError(`sql/${early.name} is new but sorts before sql/${lastApplied}, which is already applied; ` +
            "give it a number after the last applied file");
    }
    return pending;
}

/**
 * Splits SQL into statements at top-level semicolons, leaving alone those inside quotes,
 * quoted identifiers, dollar-quoted bodies and comments. Comment-only pieces are dropped.
 */
export function splitStatements(sql: string): Statement[] {
    const statements: Statement[] = [];
    let hasCode = false;
    let codeStart = 0;
    let line = 1;
    let codeLine = 1;
    let i = 0;
    const flush = (end: number) => {
        if (hasCode) {
            statements.push({ text: sql.slice(codeStart, end).trim(), line: codeLine });
        }
        hasCode = false;
    };
    const skipTo = (terminator: string, from: number): number => {
        const end = sql.indexOf(terminator, from);
        const stop = end < 0 ? sql.length : end + terminator.length;
        line += countNewlines(sql, i, stop);
        return stop;
    };
    while (i < sql.length) {
        const char = sql[i];
        const next = sql[i + 1];
        if (char === "-" && next === "-") {
            const end = sql.indexOf("\n", i);
            i = end < 0 ? sql.length : end;
            continue;
        }
        if (char === "/" && next === "*") {
            i = skipBlockComment(sql, i, (newlines) => { line += newlines; });
            continue;
        }
        if (char === "\n") {
            line++;
            i++;
            continue;
        }
        if (/\s/.test(char)) {
            i++;
            continue;
        }
        if (!hasCode) {
            hasCode = true;
            codeStart = i;
            codeLine = line;
        }
        if (char === ";") {
            flush(i);
            i++;
            continue;
        }
        if (char === "'") {
            const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !/[\w]/.test(sql[i - 2]));
            i = skipQuoted(sql, i, "'", escapes, (newlines) => { line += newlines; });
            continue;
        }
        if (char === "\"") {
            i = skipQuoted(sql, i, "\"", false, (newlines) => { line += newlines; });
            continue;
        }
        if (char === "$") {
            const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
            if (tag && !(i > 0 && /[\w]/.test(sql[i - 1]))) {
                i = skipTo(tag[0], i + tag[0].length);
                continue;
            }
        }
        i++;
    }
    flush(sql.length);
    return statements;
}

function countNewlines(text: string, from: number, to: number): number {
    let count = 0;
    for (let i = from; i < to; i++) {
        if (text[i] === "\n") {
            count++;
        }
    }
    return count;
}

/** Index after the closing quote; doubled quotes (and backslashes in E'' strings) escape. */
function skipQuoted(sql: string, open: number, quote: string, backslashEscapes: boolean, onNewlines: (n: number) => void): number {
    let i = open + 1;
    while (i < sql.length) {
        if (backslashEscapes && sql[i] === "\\") {
            i += 2;
            continue;
        }
        if (sql[i] === quote) {
            if (sql[i + 1] === quote) {
                i += 2;
                continue;
            }
            break;
        }
        i++;
    }
    const end = Math.min(i + 1, sql.length);
    onNewlines(countNewlines(sql, open, end));
    return end;
}

/** PostgreSQL block comments nest. */
function skipBlockComment(sql: string, open: number, onNewlines: (n: number) => void): number {
    let depth = 0;
    let i = open;
    while (i < sql.length) {
        if (sql[i] === "/" && sql[i + 1] === "*") {
            depth++;
            i += 2;
        } else if (sql[i] === "*" && sql[i + 1] === "/") {
            depth--;
            i += 2;
            if (depth === 0) {
                break;
            }
        } else {
            i++;
        }
    }
    onNewlines(countNewlines(sql, open, i));
    return i;
}

/** Line in the file of a 1-based character position inside a statement (PostgreSQL's error position). */
export function lineOfPosition(statement: Statement, position: number): number {
    return statement.line + countNewlines(statement.text, 0, Math.max(0, position - 1));
}

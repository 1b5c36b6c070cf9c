/**
 * Sends an alert through SendGrid within a deadline: retries network errors, 429 (honouring
 * Retry-After) and 5xx with backoff; never retries other 4xx. With no API key it logs instead.
 */
import { Client } from "@sendgrid/client";
import { MailService } from "@sendgrid/mail";
import type { AlertMessage } from "./message";
import type { MailerSettings } from "./settings";

export type DeliveryOutcome =
    | { readonly mode: "logged" }
    | { readonly mode: "sent"; readonly attempts: number; readonly status: number };

export interface DeliveryOptions {
    readonly now?: () => number;
    readonly sleep?: (ms: number) => Promise<void>;
    /** Where log mode writes its JSON line (default stdout). */
    readonly write?: (line: string) => void;
}

export class DeliveryError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DeliveryError";
    }
}

interface Verdict {
    readonly retry: boolean;
    readonly problem: string;
    readonly retryAfterMs?: number;
}

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;
/** One attempt may use at most this share of the deadline, so a hung API still leaves room for retries. */
const ATTEMPT_SHARE = 0.4;
const MIN_ATTEMPT_MS = 1000;

function retryAfterMs(header: unknown, now: number): number | undefined {
    if (typeof header !== "string" || header.trim() === "") {
        return undefined;
    }
    if (/^\d+$/.test(header.trim())) {
        return Number(header.trim()) * 1000;
    }
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What an error from the SendGrid client means for the next attempt. Never includes request headers. */
function classify(error: unknown, now: number): Verdict {
    const failure = error as {
        code?: unknown;
        response?: { headers?: Record<string, unknown>; body?: { errors?: { message?: string }[] } };
        message?: string;
    };
    if (typeof failure.code === "number" && failure.response) {
        const status = failure.code;
        const detail = failure.response.body?.errors?.map((entry) => entry.message).filter(Boolean).join("; ");
        const problem = `HTTP ${status}${detail ? ` (${detail})` : ""}`;
        if (status === 429) {
            return { retry: true, problem, retryAfterMs: retryAfterMs(failure.response.headers?.["retry-after"], now) };
        }
        return { retry: status >= 500, problem };
    }
    const code = typeof failure.code === "string" ? failure.code : "network error";
    return { retry: true, problem: `${code}${failure.message ? `: ${failure.message}` : ""}` };
}

function redact(text: string, secret: string): string {
    return text.split(secret).join("[redacted]");
}

async function sendOnce(message: AlertMessage, settings: MailerSettings & { apiKey: string }, timeoutMs: number): Promise<number> {
    const client = new Client();
    client.setApiKey(settings.apiKey);
    // setApiKey resets the base URL, so the override comes after it.
    client.setDefaultRequest("baseUrl", settings.apiUrl);
    client.setDefaultRequest("timeout" as never, timeoutMs as never);
    const mail = new MailService();
    mail.setClient(client);
    const [response] = await mail.send({
        to: [...settings.to],
        from: settings.from,
        subject: message.subject,
        text: message.text,
        html: message.html,
        categories: ["postgres-pod-alert"],
    });
    return response.statusCode;
}

export async function deliverAlert(message: AlertMessage, settings: MailerSettings, options: DeliveryOptions = {}): Promise<DeliveryOutcome> {
    const now = options.now ?? Date.now;
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    if (settings.apiKey === undefined) {
        const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
        write(JSON.stringify({ alert: "logged", reason: "no SendGrid API key configured", to: settings.to, from: settings.from, subject: message.subject, text: message.text }));
        return { mode: "logged" };
    }
    const keyed = { ...settings, apiKey: settings.apiKey };
    const deadline = now() + settings.deadlineMs;
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
    const missed = (attempts: number, problem: string, retryAfter = "") =>
        new DeliveryError(`alert not delivered within the ${seconds(settings.deadlineMs)} deadline after ${attempts} attempt(s); last problem: ${problem}${retryAfter}`);
    for (let attempt = 1; ; attempt++) {
        const remaining = deadline - now();
        let verdict: Verdict;
        try {
            // A late wake-up (a loaded node) can leave no time at all; a timeout must stay positive.
            const timeoutMs = Math.max(1, Math.min(remaining, Math.max(MIN_ATTEMPT_MS, settings.deadlineMs * ATTEMPT_SHARE)));
            return { mode: "sent", attempts: attempt, status: await sendOnce(message, keyed, timeoutMs) };
        } catch (error) {
            verdict = classify(error, now());
        }
        const problem = redact(verdict.problem, settings.apiKey);
        if (!verdict.retry) {
            throw new DeliveryError(`SendGrid refused the alert: ${problem}; not retried (check the API key, its Mail Send permission and the verified sender)`);
        }
        const wait = verdict.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1));
        if (now() + wait >= deadline) {
            throw missed(attempt, problem, verdict.retryAfterMs !== undefined ? `; SendGrid asked to retry after ${seconds(wait)}` : "");
        }
        await sleep(wait);
        if (now() >= deadline) {
            throw missed(attempt, problem);
        }
    }
}

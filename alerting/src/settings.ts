/** The mailer's settings, from the environment the pod gives it. Errors name the variable, never a value of the key. */

export interface MailerSettings {
    readonly to: readonly string[];
    readonly from: string;
    readonly subjectPrefix: string;
    /** Milliseconds one alert may take, retries included. */
    readonly deadlineMs: number;
    /** Undefined: log mode (the alert is written to stdout as one JSON line). */
    readonly apiKey?: string;
    /** SendGrid API base URL (default the global API; https://api.eu.sendgrid.com for EU residency). */
    readonly apiUrl: string;
}

/** Facts about the pod and the stack, from the Downward API and the alert ConfigMap. */
export interface PodFacts {
    readonly pod: string;
    readonly namespace: string;
    readonly node: string;
    readonly podIp: string;
    readonly service: string;
    readonly database: string;
    readonly stack: string;
}

export class SettingsError extends Error {
    constructor(problems: readonly string[]) {
        super(`alert mailer settings: ${problems.join("; ")}`);
        this.name = "SettingsError";
    }
}

/** One e-mail address: what the stack's config accepts at preview and what the mailer accepts in the pod. */
export const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
export const DEFAULT_API_URL = "https://api.sendgrid.com";
const DEFAULT_DEADLINE_SECONDS = 20;

type Env = Readonly<Record<string, string | undefined>>;

export function readMailerSettings(env: Env): MailerSettings {
    const problems: string[] = [];
    const to = (env.ALERT_TO ?? "").split(",").map((address) => address.trim()).filter((address) => address !== "");
    if (to.length === 0) {
        problems.push("ALERT_TO is empty; expected one or more e-mail addresses separated by commas");
    } else if (!to.every((address) => EMAIL.test(address))) {
        problems.push(`ALERT_TO ${JSON.stringify(env.ALERT_TO)} is not a comma-separated list of e-mail addresses`);
    }
    const from = (env.ALERT_FROM ?? "").trim();
    if (!EMAIL.test(from)) {
        problems.push(`ALERT_FROM ${JSON.stringify(env.ALERT_FROM ?? "")} is not one e-mail address`);
    }
    const deadlineSeconds = Number(env.ALERT_DEADLINE_SECONDS ?? DEFAULT_DEADLINE_SECONDS);
    if (!Number.isFinite(deadlineSeconds) || deadlineSeconds <= 0 || deadlineSeconds > 300) {
        problems.push(`ALERT_DEADLINE_SECONDS ${JSON.stringify(env.ALERT_DEADLINE_SECONDS)} is not a number of seconds from 0 to 300`);
    }
    const apiKey = env.SENDGRID_API_KEY?.trim() || undefined;
    if (apiKey !== undefined && /\s/.test(apiKey)) {
        problems.push("SENDGRID_API_KEY contains white space; expected one API key (its value is not shown)");
    }
    const apiUrl = env.SENDGRID_API_URL?.trim() || DEFAULT_API_URL;
    if (!/^https?:\/\/[^\s/]+\/?$/.test(apiUrl)) {
        problems.push(`SENDGRID_API_URL ${JSON.stringify(apiUrl)} is not a base URL such as ${DEFAULT_API_URL}`);
    }
    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return {
        to,
        from,
        subjectPrefix: env.ALERT_SUBJECT_PREFIX ?? "",
        deadlineMs: deadlineSeconds * 1000,
        apiKey,
        apiUrl: apiUrl.replace(/\/$/, ""),
    };
}

/** Missing facts read as "unknown": an alert with a gap beats no alert. */
export function readPodFacts(env: Env): PodFacts {
    const fact = (name: string) => env[name]?.trim() || "unknown";
    return {
        pod: fact("POD_NAME"),
        namespace: fact("POD_NAMESPACE"),
        node: fact("NODE_NAME"),
        podIp: fact("POD_IP"),
        service: fact("PG_SERVICE"),
        database: fact("PG_DATABASE"),
        stack: fact("PULUMI_STACK"),
    };
}

/** The mailer's settings, from the environment the pod gives it. Errors name the variable, never a value of the key. */
import { ALERT_DEADLINE_SECONDS, EMAIL, MAILER_ENV as ENV, POD_FACTS_ENV } from "./contract";

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

export const DEFAULT_API_URL = "https://api.sendgrid.com";

type Env = Readonly<Record<string, string | undefined>>;

export function readMailerSettings(env: Env): MailerSettings {
    const problems: string[] = [];
    const to = (env[ENV.to] ?? "").split(",").map((address) => address.trim()).filter((address) => address !== "");
    if (to.length === 0) {
        problems.push(`${ENV.to} is empty; expected one or more e-mail addresses separated by commas`);
    } else if (!to.every((address) => EMAIL.test(address))) {
        problems.push(`${ENV.to} ${JSON.stringify(env[ENV.to])} is not a comma-separated list of e-mail addresses`);
    }
    const from = (env[ENV.from] ?? "").trim();
    if (!EMAIL.test(from)) {
        problems.push(`${ENV.from} ${JSON.stringify(env[ENV.from] ?? "")} is not one e-mail address`);
    }
    const deadlineSeconds = alertDeadlineSeconds(env);
    if (deadlineSeconds === undefined) {
        problems.push(`${ENV.deadlineSeconds} ${JSON.stringify(env[ENV.deadlineSeconds])} is not a whole number of seconds from ` +
            `${ALERT_DEADLINE_SECONDS.min} to ${ALERT_DEADLINE_SECONDS.max}`);
    }
    const apiKey = env[ENV.apiKey]?.trim() || undefined;
    if (apiKey !== undefined && /\s/.test(apiKey)) {
        problems.push(`${ENV.apiKey} contains white space; expected one API key (its value is not shown)`);
    }
    const apiUrl = env[ENV.apiUrl]?.trim() || DEFAULT_API_URL;
    if (!/^https?:\/\/[^\s/]+\/?$/.test(apiUrl)) {
        problems.push(`${ENV.apiUrl} ${JSON.stringify(apiUrl)} is not a base URL such as ${DEFAULT_API_URL}`);
    }
    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return {
        to,
        from,
        subjectPrefix: env[ENV.subjectPrefix] ?? "",
        deadlineMs: deadlineSeconds! * 1000,
        apiKey,
        apiUrl: apiUrl.replace(/\/$/, ""),
    };
}

/** The alert deadline the pod was given, its default when unset; undefined when out of the contract's bounds. */
export function alertDeadlineSeconds(env: Env): number | undefined {
    const raw = env[ENV.deadlineSeconds];
    if (raw === undefined) {
        return ALERT_DEADLINE_SECONDS.default;
    }
    const seconds = Number(raw);
    return /^\d+$/.test(raw) && seconds >= ALERT_DEADLINE_SECONDS.min && seconds <= ALERT_DEADLINE_SECONDS.max ? seconds : undefined;
}

/** Missing facts read as "unknown": an alert with a gap beats no alert. */
export function readPodFacts(env: Env): PodFacts {
    const fact = (name: string) => env[name]?.trim() || "unknown";
    return {
        pod: fact(POD_FACTS_ENV.pod),
        namespace: fact(POD_FACTS_ENV.namespace),
        node: fact(POD_FACTS_ENV.node),
        podIp: fact(POD_FACTS_ENV.podIp),
        service: fact(POD_FACTS_ENV.service),
        database: fact(POD_FACTS_ENV.database),
        stack: fact(POD_FACTS_ENV.stack),
    };
}

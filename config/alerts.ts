/** Alerts: who gets them, who sends them, the SendGrid key, and the image that runs the mailer. */
import { EMAIL } from "../alerting/src/contract";
import { DEFAULTS, LIMITS } from "./defaults";
import { Reader } from "./reader";
import type { AlertSettings, ExposureSettings, SendgridKeySource } from "./types";
import { pinnedImageProblem, quote, SENDGRID_API_KEY } from "./values";

/**
 * The variable of the deploying process that gives the SendGrid key when the stack's config does not.
 * Named for this project, so that a SENDGRID_API_KEY exported for other work never mails from here unasked.
 */
export const SENDGRID_KEY_ENV = "WORKSHOP_SENDGRID_API_KEY";

const KEY_FORM = "a SendGrid API key as SendGrid issues it: SG., 22 characters, '.', 43 characters";

function addressProblem(address: string): string | undefined {
    return EMAIL.test(address) ? undefined : `${quote(address)} is not an e-mail address`;
}

export function readAlerts(reader: Reader, exposure: ExposureSettings): AlertSettings {
    const to = reader.list("alertTo", "one or more e-mail addresses, as [\"ops@example.com\"] or ops@example.com,dba@example.com",
        addressProblem, "one or more e-mail addresses, for example ops@example.com");
    const from = reader.required("alertFrom", "the sender address, for example alerts@example.com",
        (value) => (EMAIL.test(value) ? undefined : "one e-mail address such as alerts@example.com"));
    const subjectPrefix = reader.text("alertSubjectPrefix", DEFAULTS.alertSubjectPrefix, (value) =>
        // eslint-disable-next-line no-control-regex
        value.length <= LIMITS.alertSubjectPrefixLength && !/[\u0000-\u001f\u007f]/.test(value)
            ? undefined : `one line of at most ${LIMITS.alertSubjectPrefixLength} characters, without control characters`);
    const deadlineSeconds = reader.integer("alertDeadlineSeconds", "seconds") ?? DEFAULTS.alertDeadlineSeconds;
    const image = reader.text("alertImage", DEFAULTS.alertImage, (value) => pinnedImageProblem(value, "Node.js", LIMITS.nodeMajor,
        DEFAULTS.alertImage, "the alert programs are built for it"));
    return {
        to,
        from: from ?? "",
        subjectPrefix,
        deadlineSeconds,
        image,
        ...sendgridKey(reader, exposure),
    };
}

function sendgridKey(reader: Reader, exposure: ExposureSettings): { sendgridConfigured: boolean; sendgridKeySource?: SendgridKeySource } {
    const keyProblem = (value: string) => (SENDGRID_API_KEY.test(value.trim()) ? undefined : KEY_FORM);
    if (reader.secret("sendgridApiKey", "a SendGrid API key", { required: false, check: keyProblem })) {
        if (exposure.readableSecrets.length > 0) {
            reader.say("sendgridApiKey", `this stack's secrets are public (${exposure.readableSecrets.join("; ")}), so a key set ` +
                "here can be read by anyone with its config file: remove it with `pulumi config rm sendgridApiKey`, revoke it in " +
                `SendGrid, and give the new one as ${SENDGRID_KEY_ENV} in the environment of \`npm run up\`, or use a stack of your own`);
        }
        return { sendgridConfigured: true, sendgridKeySource: "config" };
    }
    const fromEnvironment = reader.source.env?.(SENDGRID_KEY_ENV);
    if (fromEnvironment === undefined || fromEnvironment.trim() === "") {
        return { sendgridConfigured: false };
    }
    if (keyProblem(fromEnvironment)) {
        reader.problems.push(`${SENDGRID_KEY_ENV} (environment): expected ${KEY_FORM} (the value is not shown)`);
    }
    return { sendgridConfigured: true, sendgridKeySource: "environment" };
}

/** How alerts are delivered, as the stack output `alertDelivery` says it; and the warning preview and up print without mail. */
export function alertDelivery(alert: AlertSettings, exposure: ExposureSettings): { readonly summary: string; readonly warning?: string } {
    const recipients = alert.to.join(", ");
    if (alert.sendgridKeySource === "config") {
        return { summary: `sendgrid: mail to ${recipients} from ${alert.from}` };
    }
    if (alert.sendgridKeySource === "environment") {
        return {
            summary: `sendgrid: mail to ${recipients} from ${alert.from}, with the key ${SENDGRID_KEY_ENV} gave this deployment`,
        };
    }
    const ownStack = exposure.readableSecrets.length > 0
        ? "(this stack's secrets are public, so not in its config)"
        : "or store it in the stack with `npm run pulumi -- config set --secret sendgridApiKey SG.…`";
    return {
        summary: "log only: no SendGrid key, so alerts are written to the alert containers' logs and never mailed",
        warning: `alerts will only be logged, never mailed: this stack has no SendGrid API key. To mail ${recipients}, give the key as ` +
            `${SENDGRID_KEY_ENV}=SG.… in the environment of \`npm run up\` ${ownStack}; see docs/configuration.md#alerts`,
    };
}

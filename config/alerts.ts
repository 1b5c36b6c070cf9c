/** Alerts: who gets them, who sends them, the SendGrid key, and the image that runs the mailer. */
import { EMAIL } from "../alerting/src/contract";
import { DEFAULTS, LIMITS } from "./defaults";
import { Reader } from "./reader";
import type { AlertSettings } from "./types";
import { pinnedImageProblem, quote, SENDGRID_API_KEY } from "./values";

const KEY_FORM = "a SendGrid API key as SendGrid issues it: SG., 22 characters, '.', 43 characters";

function addressProblem(address: string): string | undefined {
    return EMAIL.test(address) ? undefined : `${quote(address)} is not an e-mail address`;
}

export function readAlerts(reader: Reader): AlertSettings {
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
        sendgridConfigured: reader.secret("sendgridApiKey", "a SendGrid API key", {
            required: false,
            check: (value) => (SENDGRID_API_KEY.test(value.trim()) ? undefined : KEY_FORM),
        }),
    };
}

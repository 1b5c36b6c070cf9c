/** Shared process wrapper of the entry points: exit codes, one-line results, and a hard stop at the deadline. */
import type { DeliveryOutcome } from "./deliver";
import { ALERT_DEADLINE_SECONDS } from "./contract";
import { alertDeadlineSeconds, SettingsError } from "./settings";

/** Slack after ALERT_DEADLINE_SECONDS before the process ends itself, whatever is pending. */
export const HARD_STOP_SLACK_MS = 1000;

export function runMain(work: () => Promise<DeliveryOutcome>): void {
    // An invalid value is the settings' error to report; the hard stop still needs a bound.
    const deadlineSeconds = alertDeadlineSeconds(process.env) ?? ALERT_DEADLINE_SECONDS.default;
    setTimeout(() => {
        console.error(JSON.stringify({ alert: "failed", error: `hard stop: still running ${deadlineSeconds}s after start` }));
        process.exit(1);
    }, deadlineSeconds * 1000 + HARD_STOP_SLACK_MS).unref();
    // Exit at once rather than when idle: keep-alive sockets would hold the hook, and the pod, for seconds.
    // Writes to pipes and files are synchronous on Linux, so nothing printed is lost.
    work().then((outcome) => {
        if (outcome.mode === "sent") {
            console.log(JSON.stringify({ alert: "sent", attempts: outcome.attempts, status: outcome.status }));
        }
        process.exit(0);
    }, (error: unknown) => {
        console.error(JSON.stringify({ alert: "failed", error: error instanceof Error ? error.message : String(error) }));
        process.exit(error instanceof SettingsError ? 2 : 1);
    });
}

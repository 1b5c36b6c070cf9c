/**
 * Entry point of the preStop hook of the alert sidecar: mails that the PostgreSQL pod is going down.
 * Exit 0: sent or logged; 1: delivery failed; 2: bad settings (no request was made).
 */
import { deliverAlert } from "./deliver";
import { buildAlert } from "./message";
import { readMailerSettings, readPodFacts } from "./settings";
import { runMain } from "./runMain";

runMain(async () => {
    const settings = readMailerSettings(process.env);
    const message = buildAlert(
        { kind: "stopping", reason: "pod is being stopped", source: "preStop hook", at: new Date(),
            notes: ["Kubernetes is stopping the pod on purpose: deleted, rolled out, drained, evicted through the API, scaled to zero or destroyed."] },
        readPodFacts(process.env),
        settings.subjectPrefix,
    );
    return deliverAlert(message, settings);
});

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { alertSidecar, MAILER_BUNDLE, MAX_BUNDLE_BYTES, mailerSettingsData } from "./alertSpec";
import type { PodExtension } from "../kube/pod";
import { refusal } from "../kube/refusal";
import { DEFAULTS } from "../config/settings";

/** Bundles built by `npm run build` from alerting/src. */
export const BUNDLE_DIR = path.resolve(__dirname, "../alerting/dist");

/**
 * Reads a built bundle as ConfigMap text: UTF-8 for `data`, base64 for `binaryData`. Refuses a
 * missing bundle, or one too large for a ConfigMap, with a message that says what to do.
 */
export function readBundle(file: string, encoding: "utf8" | "base64"): string {
    const bundlePath = path.join(BUNDLE_DIR, file);
    if (!fs.existsSync(bundlePath)) {
        throw refusal(`${path.relative(process.cwd(), bundlePath)} is missing: run \`npm run build\` first (npm run up and npm test do)`);
    }
    const bundle = fs.readFileSync(bundlePath).toString(encoding);
    const bytes = Buffer.byteLength(bundle);
    if (bytes > MAX_BUNDLE_BYTES) {
        throw refusal(`${file} takes ${bytes} bytes in a ConfigMap, which holds at most ${MAX_BUNDLE_BYTES}`);
    }
    return bundle;
}

export interface AlertMailerArgs {
    readonly namespace: pulumi.Input<string>;
    /** Recipients. */
    readonly to: readonly string[];
    /** Sender (a SendGrid verified sender). */
    readonly from: string;
    /** Prepended to every subject (default none). */
    readonly subjectPrefix?: string;
    /** Upper bound of one send, retries included (default 20 s). */
    readonly deadlineSeconds?: number;
    /** SendGrid API key; undefined runs the mailer in log mode. */
    readonly sendgridApiKey?: pulumi.Input<string>;
    /** Official Node.js image for the sidecar. */
    readonly image: string;
    /** PostgreSQL Service and database the alerts name. */
    readonly service: string;
    readonly database: string;
    readonly labels?: Record<string, string>;
}

/** The alert mailer's bundle, settings and API key, and the sidecar that sends when the pod stops. */
export class AlertMailer extends pulumi.ComponentResource {
    /** Add to the PostgreSQL pod: the sidecar with the preStop hook and its bundle volume. */
    public readonly podExtension: PodExtension;
    public readonly settingsConfigMap: pulumi.Output<string>;
    /** Undefined in log mode. */
    public readonly apiKeySecret?: pulumi.Output<string>;
    public readonly image: string;
    public readonly deadlineSeconds: number;

    constructor(name: string, args: AlertMailerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("workshop:alerting:AlertMailer", name, {}, opts);
        const deadlineSeconds = args.deadlineSeconds ?? DEFAULTS.alertDeadlineSeconds;
        const metadata = { namespace: args.namespace, labels: args.labels };
        this.image = args.image;
        this.deadlineSeconds = deadlineSeconds;

        // Auto-named: a new bundle or setting makes a new object, which rolls the pod onto it.
        const bundle = new k8s.core.v1.ConfigMap(`${name}-bundle`, {
            metadata,
            data: { [MAILER_BUNDLE]: readBundle(MAILER_BUNDLE, "utf8") },
        }, { parent: this });

        this.settingsConfigMap = new k8s.core.v1.ConfigMap(`${name}-settings`, {
            metadata,
            data: mailerSettingsData({
                to: args.to,
                from: args.from,
                subjectPrefix: args.subjectPrefix ?? "",
                deadlineSeconds,
                service: args.service,
                database: args.database,
                stack: `${pulumi.getProject()}/${pulumi.getStack()}`,
            }),
        }, { parent: this }).metadata.name;

        this.apiKeySecret = args.sendgridApiKey === undefined ? undefined : new k8s.core.v1.Secret(`${name}-sendgrid`, {
            metadata,
            type: "Opaque",
            stringData: { apiKey: args.sendgridApiKey },
        }, { parent: this }).metadata.name;

        this.podExtension = alertSidecar({
            image: args.image,
            bundleConfigMap: bundle.metadata.name,
            settingsConfigMap: this.settingsConfigMap,
            apiKeySecret: this.apiKeySecret,
            deadlineSeconds,
        });
        this.registerOutputs({ settingsConfigMap: this.settingsConfigMap, apiKeySecret: this.apiKeySecret });
    }
}

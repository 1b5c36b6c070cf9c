/**
 * The program's guards as `pulumi preview` meets them: the dev stack's published credentials stay
 * on a local cluster, typos and unusable secrets stop the program before any resource exists, and
 * a stack without a SendGrid key says so.
 */
import * as assert from "assert";
import { SENDGRID_KEY_ENV } from "../config/alerts";
import type { KubeContextView } from "../kube/localCluster";
import { devStack } from "../testing/devStack";
import { ProgramRun, runProgram, secretPaths, valueOf } from "../testing/program";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const engine = require("@pulumi/pulumi/runtime/resource") as { registerResource: (...args: unknown[]) => unknown };

const CLOUD: KubeContextView = { context: "gke_project_europe-west1_prod", cluster: "gke_project_europe-west1_prod", server: "https://34.76.1.2" };
const SENDGRID_KEY = "SG.programTestKey00000000.program-test-secret-never-printed-xxxxxxxxx";

/** The run's error, and the types of the resources the program registered before it. */
async function refusal(run: () => Promise<ProgramRun>): Promise<{ message: string; registered: string[] }> {
    const registered: string[] = [];
    const original = engine.registerResource;
    engine.registerResource = (...args: unknown[]) => {
        registered.push(String(args[2]));
        return original(...args);
    };
    try {
        await run();
    } catch (error) {
        return { message: (error as Error).message, registered: registered.filter((type) => type !== "pulumi:pulumi:Stack") };
    } finally {
        engine.registerResource = original;
    }
    return assert.fail("the program ran");
}

describe("the program's guards, before any resource", () => {
    const { config, secretKeys } = devStack();

    it("the dev stack on a cluster others can reach: refused, saying how to make a stack of one's own, and nothing registered", async () => {
        const { message, registered } = await refusal(() => runProgram(config, secretKeys, { kubeContext: CLOUD }));
        assert.match(message, /workshop-postgres:publicCredentials: this stack's credentials are public \(publicCredentials is true.*; its dbPassword is the challenge's password/);
        assert.match(message, /context "gke_project_europe-west1_prod" \(API server 34\.76\.1\.2\)/);
        assert.match(message, /PULUMI_STACK=mine PULUMI_CONFIG_PASSPHRASE=.*config set --secret dbPassword/);
        assert.ok(!message.includes(config.dbPassword), "the password is not in the message");
        assert.deepStrictEqual(registered, []);
    });

    it("a typo and an empty secret, read from the stack's real config: refused, the secret not shown", async () => {
        const { message, registered } = await refusal(() => runProgram({ ...config, allowedCIDRs: "10.0.0.0/8", appPassword: "" }, secretKeys));
        assert.match(message, /workshop-postgres:allowedCIDRs: unknown key, so nothing reads it; did you mean allowedCidrs\?/);
        assert.match(message, /workshop-postgres:appPassword: expected the password of the application role; it is empty \(the value is not shown\)/);
        assert.deepStrictEqual(registered, []);
    });

    it("a stack without a SendGrid key: a warning at every run and an output that say alerts are only logged", async () => {
        const run = await runProgram(config, secretKeys, { preview: true });
        const warned = run.warnings.filter((line) => /alerts will only be logged/.test(line));
        assert.strictEqual(warned.length, 1, run.warnings.join("\n"));
        assert.match(warned[0], new RegExp(`To mail ops@example.com, give the key as ${SENDGRID_KEY_ENV}=SG\\.… in the environment of \`npm run up\` \\(this stack's secrets are public`));
        assert.match(await valueOf(run.outputs.alertDelivery) as string, /^log only: no SendGrid key/);
        assert.strictEqual(run.ofType("kubernetes:core/v1:Secret").filter((secret) => secret.name.includes("sendgrid")).length, 0);
    });

    it("the dev stack on a cluster its user says is private, with the key from the environment: mails, and keeps the key secret", async () => {
        const run = await runProgram({ ...config, clusterIsPrivate: "true" }, secretKeys, { kubeContext: CLOUD, env: { [SENDGRID_KEY_ENV]: SENDGRID_KEY } });
        assert.deepStrictEqual(run.warnings, []);
        assert.match(await valueOf(run.outputs.alertDelivery) as string, /^sendgrid: mail to ops@example.com from alerts@example.com, with the key WORKSHOP_SENDGRID_API_KEY gave/);
        const [secret] = run.ofType("kubernetes:core/v1:Secret").filter((resource) => resource.name.includes("sendgrid"));
        assert.strictEqual(secret.inputs.stringData.apiKey, SENDGRID_KEY);
        assert.deepStrictEqual(secretPaths(secret.rawInputs), ["stringData"], "sent to the engine as a secret");
    });
});

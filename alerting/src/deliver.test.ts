import * as assert from "assert";
import { deliverAlert, DeliveryError } from "./deliver";
import { buildAlert } from "./message";
import { MailerSettings, readMailerSettings, readPodFacts } from "./settings";
import { STARTED_AT } from "../../testing/clock";
import { ACCEPTED, FakeSendgrid, ScriptedAnswer, startFakeSendgrid } from "../../testing/fakeSendgrid";

const API_KEY = "SG.test-key-that-must-never-be-printed";
const MESSAGE = buildAlert({ kind: "stopping", reason: "pod is being stopped", source: "preStop hook", at: new Date() },
    readPodFacts({ POD_NAME: "postgres-1", POD_NAMESPACE: "workshop" }), "[test]");

describe("delivering an alert to a fake SendGrid API on loopback", () => {
    let api: FakeSendgrid | undefined;
    afterEach(async () => {
        await api?.close();
        api = undefined;
    });

    /** The pod's settings; a deadline below the contract's 5 s minimum keeps the deadline tests short. */
    async function deliverWith(answers: ScriptedAnswer[], deadlineSeconds = 10) {
        api = await startFakeSendgrid(answers);
        const settings: MailerSettings = readMailerSettings({
            ALERT_TO: "ops@example.com,dba@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_KEY: API_KEY, SENDGRID_API_URL: api.url,
        });
        return deliverAlert(MESSAGE, { ...settings, deadlineMs: deadlineSeconds * 1000 });
    }

    it("posts the mail to /v3/mail/send with the bearer key and a JSON body with a plain-text part", async () => {
        const outcome = await deliverWith([ACCEPTED]);
        assert.deepStrictEqual(outcome, { mode: "sent", attempts: 1, status: 202 });
        assert.strictEqual(api!.requests.length, 1);
        const [request] = api!.requests;
        assert.strictEqual(request.method, "POST");
        assert.strictEqual(request.path, "/v3/mail/send");
        assert.strictEqual(request.authorization, `Bearer ${API_KEY}`);
        assert.match(request.contentType ?? "", /^application\/json/);
        assert.deepStrictEqual(request.body.personalizations[0].to, [{ email: "ops@example.com" }, { email: "dba@example.com" }]);
        assert.deepStrictEqual(request.body.from, { email: "alerts@example.com" });
        assert.strictEqual(request.body.subject, MESSAGE.subject);
        assert.deepStrictEqual(request.body.content.map((part: any) => part.type), ["text/plain", "text/html"]);
        assert.strictEqual(request.body.content[0].value, MESSAGE.text);
    });

    it("retries a 500 and succeeds on the 202", async () => {
        const outcome = await deliverWith([{ status: 500 }, ACCEPTED]);
        assert.deepStrictEqual(outcome, { mode: "sent", attempts: 2, status: 202 });
        assert.strictEqual(api!.requests.length, 2);
    });

    it("waits as long as Retry-After says after a 429, then succeeds", async () => {
        const outcome = await deliverWith([{ status: 429, headers: { "retry-after": "1" } }, ACCEPTED]);
        assert.deepStrictEqual(outcome, { mode: "sent", attempts: 2, status: 202 });
        const [first, second] = api!.requests;
        assert.ok(second.receivedAt - first.receivedAt >= 1000, `retried after ${second.receivedAt - first.receivedAt} ms`);
    });

    it("gives up at once when Retry-After reaches past the deadline", async () => {
        await assert.rejects(deliverWith([{ status: 429, headers: { "retry-after": "60" } }], 5),
            /deadline after 1 attempt\(s\); last problem: HTTP 429; SendGrid asked to retry after 60\.0s/);
        assert.strictEqual(api!.requests.length, 1);
    });

    it("does not retry a 401, says what failed, and never prints the key", async () => {
        const answer = { status: 401, body: { errors: [{ message: "The provided authorization grant is invalid, expired, or revoked" }] } };
        await assert.rejects(deliverWith([answer]), (error: Error) => error instanceof DeliveryError &&
            /^SendGrid refused the alert: HTTP 401 \(The provided authorization grant is invalid, expired, or revoked\); not retried/.test(error.message) &&
            !error.message.includes(API_KEY) && !(error.stack ?? "").includes(API_KEY));
        assert.strictEqual(api!.requests.length, 1);
    });

    it("does not retry a 400 or a 403", async () => {
        for (const status of [400, 403]) {
            await assert.rejects(deliverWith([{ status }]), new RegExp(`HTTP ${status}; not retried`));
            assert.strictEqual(api!.requests.length, 1);
            await api!.close();
        }
    });

    it("reads a Retry-After date against its own clock, not the machine's", async () => {
        const now = Math.floor(STARTED_AT / 1000) * 1000; // an HTTP date has whole seconds
        api = await startFakeSendgrid([{ status: 429, headers: { "retry-after": new Date(now + 60_000).toUTCString() } }]);
        const settings = readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_KEY: API_KEY, SENDGRID_API_URL: api.url, ALERT_DEADLINE_SECONDS: "5" });
        await assert.rejects(deliverAlert(MESSAGE, settings, { now: () => now }), /after 1 attempt\(s\); last problem: HTTP 429; SendGrid asked to retry after 60\.0s$/);
        assert.strictEqual(api.requests.length, 1);
    });

    it("stops trying an API that never answers within the deadline", async () => {
        const start = performance.now();
        await assert.rejects(deliverWith([{ status: 0, hang: true }], 3), /not delivered within the 3\.0s deadline after \d+ attempt\(s\); last problem: ECONNABORTED/);
        const elapsed = performance.now() - start;
        // The margin covers a loaded machine's late timers, not a further attempt (at least 1 s).
        assert.ok(elapsed <= 3000 + 900, `took ${elapsed.toFixed(0)} ms for a 3 s deadline`);
        assert.ok(api!.requests.length >= 2, "a timed-out attempt is retried while the deadline allows");
    });

    it("retries a refused connection until the deadline", async () => {
        api = await startFakeSendgrid();
        const url = api.url;
        await api.close();
        const settings = readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_KEY: API_KEY, SENDGRID_API_URL: url });
        await assert.rejects(deliverAlert(MESSAGE, { ...settings, deadlineMs: 2000 }), /not delivered within the 2\.0s deadline after [2-9]\d* attempt\(s\); last problem: ECONNREFUSED/);
    });

    it("gives up, and never starts an attempt with no time left, when a wait overruns the deadline (a loaded node)", async () => {
        api = await startFakeSendgrid();
        const url = api.url;
        await api.close();
        let now = STARTED_AT;
        const settings = readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_KEY: API_KEY, SENDGRID_API_URL: url });
        const oversleep = async (ms: number) => { now += ms + settings.deadlineMs; };
        await assert.rejects(deliverAlert(MESSAGE, settings, { now: () => now, sleep: oversleep }),
            /^DeliveryError: alert not delivered within the 20\.0s deadline after 1 attempt\(s\); last problem: ECONNREFUSED/);
    });

    it("without an API key, writes the alert as one JSON line and sends nothing", async () => {
        api = await startFakeSendgrid();
        const lines: string[] = [];
        const settings = readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", SENDGRID_API_URL: api.url });
        assert.deepStrictEqual(await deliverAlert(MESSAGE, settings, { write: (line) => lines.push(line) }), { mode: "logged" });
        assert.strictEqual(lines.length, 1);
        assert.ok(!lines[0].includes("\n"));
        const logged = JSON.parse(lines[0]);
        assert.strictEqual(logged.alert, "logged");
        assert.strictEqual(logged.subject, MESSAGE.subject);
        assert.strictEqual(logged.text, MESSAGE.text);
        assert.strictEqual(api.requests.length, 0);
    });
});

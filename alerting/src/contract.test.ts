import * as assert from "assert";
import { parseSettings } from "../../config/settings";
import { ALERT_DEADLINE_SECONDS } from "./contract";
import { readMailerSettings } from "./settings";

describe("the contract across the pod boundary", () => {
    const stackAccepts = (key: string, value: string) => {
        const values: Record<string, string> = { dbName: "WORKSHOP", alertTo: "ops@example.com", alertFrom: "alerts@example.com", [key]: value };
        try {
            parseSettings({ get: (k) => values[k], hasSecret: (k) => ["dbPassword", "appPassword", "backupPassword"].includes(k) });
            return true;
        } catch {
            return false;
        }
    };
    const podAccepts = (env: Record<string, string>) => {
        try {
            readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com", ...env });
            return true;
        } catch {
            return false;
        }
    };

    it("the stack's config and the mailer in the pod accept the same alert deadlines", () => {
        const { min, max } = ALERT_DEADLINE_SECONDS;
        for (const seconds of ["0", String(min - 1), String(min), "20", String(max), String(max + 1), "1.5", "soon"]) {
            assert.strictEqual(podAccepts({ ALERT_DEADLINE_SECONDS: seconds }), stackAccepts("alertDeadlineSeconds", seconds), seconds);
        }
        assert.strictEqual(readMailerSettings({ ALERT_TO: "ops@example.com", ALERT_FROM: "alerts@example.com" }).deadlineMs, ALERT_DEADLINE_SECONDS.default * 1000);
    });

    it("the stack's config and the mailer in the pod accept the same e-mail addresses", () => {
        for (const address of ["ops@example.com", "o.p+s@mail.example.org", "ops", "ops@example", "Ops <ops@example.com>", "a@b.c,d@e.f"]) {
            assert.strictEqual(podAccepts({ ALERT_FROM: address }), stackAccepts("alertFrom", address), address);
        }
    });
});

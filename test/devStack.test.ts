import * as assert from "assert";
import { DEV_PASSPHRASE, loadStack } from "../testing/devStack";
import { passphraseKey } from "../testing/passphrase";

describe("the committed dev stack", () => {
    it("reads Pulumi's passphrase format: the salt from Pulumi's own tests opens with its passphrase only", () => {
        const salt = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ==";
        assert.strictEqual(passphraseKey("password", salt).length, 32);
        assert.throws(() => passphraseKey("password123", salt));
    });

    it("opens with the documented dev passphrase and holds the challenge's values", () => {
        const { config, secretKeys } = loadStack("dev", DEV_PASSPHRASE);
        assert.strictEqual(config.dbUser, "postgres");
        assert.strictEqual(config.dbName, "WORKSHOP");
        assert.strictEqual(config.dbPassword, "Aw3s0m3");
        assert.deepStrictEqual(secretKeys.sort(), ["appPassword", "backupPassword", "dbPassword"]);
    });

    it("refuses a wrong passphrase", () => {
        assert.throws(() => loadStack("dev", "not-the-passphrase"), /incorrect passphrase|unable to authenticate|Unsupported state/);
    });
});

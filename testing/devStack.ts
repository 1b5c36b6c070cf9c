/** The committed dev stack, read as `pulumi up --stack dev` would: plain values and decrypted secrets. */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { PROJECT } from "../config/settings";
import { decryptValue, passphraseKey } from "./passphrase";

/** The passphrase docs/configuration.md documents for the dev stack. */
export const DEV_PASSPHRASE = "workshop-dev";

export interface StackConfig {
    /** Keys without the project prefix; structured values as JSON, like the Pulumi CLI passes them. */
    readonly config: Record<string, string>;
    readonly secretKeys: string[];
}

export function loadStack(stack: string, passphrase: string): StackConfig {
    const file = yaml.load(fs.readFileSync(path.resolve(__dirname, `../Pulumi.${stack}.yaml`), "utf8")) as {
        encryptionsalt: string;
        config: Record<string, unknown>;
    };
    const key = passphraseKey(passphrase, file.encryptionsalt);
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [fullKey, value] of Object.entries(file.config)) {
        const name = fullKey.slice(PROJECT.length + 1);
        if (value !== null && typeof value === "object" && "secure" in value) {
            config[name] = decryptValue(key, String((value as { secure: string }).secure));
            secretKeys.push(name);
        } else {
            config[name] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { config, secretKeys };
}

let cached: StackConfig | undefined;
export function devStack(): StackConfig {
    cached ??= loadStack("dev", DEV_PASSPHRASE);
    return { config: { ...cached.config }, secretKeys: [...cached.secretKeys] };
}

/**
 * The program's ConfigSource: the stack's config as the Pulumi engine passes it (secrets decrypted,
 * so that they can be checked; they are never quoted, logged or kept), and the keys set in the
 * project's namespace.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ConfigSource } from "./types";

export function pulumiConfigSource(): ConfigSource {
    const config = new pulumi.Config();
    const prefix = `${config.name}:`;
    return {
        get: (key) => config.get(key),
        hasSecret: (key) => config.get(key) !== undefined,
        secret: (key) => config.get(key),
        keys: () => Object.keys(pulumi.runtime.allConfig()).filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)),
    };
}

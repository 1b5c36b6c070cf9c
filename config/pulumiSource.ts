/**
 * The program's ConfigSource: the stack's config as the Pulumi engine passes it (secrets decrypted,
 * so that they can be checked; they are never quoted, logged or kept), the keys set in the project's
 * namespace, and the deploying process's environment. Tests replace the environment with
 * `useDeployEnvironment`, so that no variable of the machine running them leaks in.
 */
import * as pulumi from "@pulumi/pulumi";
import { SENDGRID_KEY_ENV } from "./alerts";
import type { AlertSettings, ConfigSource } from "./types";

type Environment = Readonly<Record<string, string | undefined>>;

let environment: Environment | undefined;

/** The environment the program reads (tests); undefined restores process.env. */
export function useDeployEnvironment(env: Environment | undefined): void {
    environment = env;
}

function deployEnvironment(): Environment {
    return environment ?? process.env;
}

export function pulumiConfigSource(): ConfigSource {
    const config = new pulumi.Config();
    const prefix = `${config.name}:`;
    return {
        get: (key) => config.get(key),
        hasSecret: (key) => config.get(key) !== undefined,
        secret: (key) => config.get(key),
        keys: () => Object.keys(pulumi.runtime.allConfig()).filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)),
        env: (name) => deployEnvironment()[name],
    };
}

/** The SendGrid key as a Pulumi secret, from where the settings found it; undefined without one. */
export function sendgridApiKey(alert: AlertSettings): pulumi.Output<string> | undefined {
    switch (alert.sendgridKeySource) {
        case "config":
            return new pulumi.Config().requireSecret("sendgridApiKey");
        case "environment":
            return pulumi.secret((deployEnvironment()[SENDGRID_KEY_ENV] as string).trim());
        default:
            return undefined;
    }
}

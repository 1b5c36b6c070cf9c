/**
 * How the program stops on purpose: a setting, an object it must not take over, a load balancer
 * that will not come. Pulumi prints a RunError, and a ResourceError that hides its stack, as the
 * message alone (under the resource for the latter); any other error as "unhandled exception"
 * with its stack trace.
 */
import * as pulumi from "@pulumi/pulumi";

/** A refusal of the whole program, or of `resource` when given: printed as `message`, once. */
export function refusal(message: string, resource?: pulumi.Resource): Error {
    const error = resource ? new pulumi.ResourceError(message, resource, true) : new pulumi.RunError(message);
    // The SDK prefixes `error serializing property "…": ` to an error that fails a resource input,
    // in place and once per input that carries it (five times for the database's address).
    Object.defineProperty(error, "message", { get: () => message, set: () => undefined });
    return error;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** `work`'s result; an error of one of the `expected` classes stops the program as a refusal instead. */
export function refusing<T>(work: () => T, ...expected: ErrorClass[]): T {
    try {
        return work();
    } catch (error) {
        if (expected.some((kind) => error instanceof kind)) {
            throw refusal((error as Error).message);
        }
        throw error;
    }
}

/** Reaching the database from the deploying machine, and the schema, its application role and its password. */
import { passwordProblem, roleProblem } from "./database";
import { DEFAULTS, FORWARD_PORT, ServiceType } from "./defaults";
import { Reader } from "./reader";
import type { SchemaSettings } from "./types";
import { hostProblem, PG_IDENTIFIER, RESERVED_NAMES, RESERVED_PREFIX } from "./values";

function schemaProblem(name: string): string | undefined {
    if (!PG_IDENTIFIER.test(name)) {
        return "a schema name: a letter or '_' then letters, digits or '_'";
    }
    if (name.startsWith(RESERVED_PREFIX)) {
        return `a schema name that does not start with ${RESERVED_PREFIX}, which PostgreSQL reserves`;
    }
    if ((RESERVED_NAMES.schema as readonly string[]).includes(name)) {
        return `a schema of the stack's own, not ${name}, which every database has: the application role would get ` +
            "write access to all of it, and allowDataDeletion would drop it with everything in it";
    }
    return undefined;
}

/** `serviceType` undefined: it was refused, so the checks that depend on it are skipped. */
export function readSchema(reader: Reader, serviceType: ServiceType | undefined, dbUser: string, namespace: string): SchemaSettings {
    const dbHost = reader.get("dbHost");
    if (dbHost !== undefined) {
        reader.text("dbHost", dbHost, hostProblem);
    }
    const dbPort = reader.integer("dbPort", "a TCP port");
    if (serviceType === "ClusterIP" && dbHost === undefined) {
        reader.say("dbHost", "missing; a ClusterIP Service is not reachable from the deploying machine, " +
            `so set dbHost and dbPort to an address that reaches PostgreSQL, for example 127.0.0.1 and ${FORWARD_PORT} with ` +
            `\`kubectl -n ${namespace} port-forward svc/postgres ${FORWARD_PORT}:5432\` in another terminal (not local port 5432, which a ` +
            "PostgreSQL of your own may hold), or choose serviceType NodePort or LoadBalancer");
    }
    if (serviceType === "NodePort" && dbHost === undefined) {
        reader.say("dbHost", "missing; with serviceType NodePort set dbHost to a node address " +
            "that the deploying machine reaches, for example 127.0.0.1 on Docker Desktop or the output of `minikube ip`");
    }
    const appUser = reader.text("appUser", DEFAULTS.appUser, roleProblem);
    if (appUser === dbUser) {
        reader.bad("appUser", "a role other than dbUser (the application must not run as the superuser)", appUser);
    }
    const schemaName = reader.text("schemaName", DEFAULTS.schemaName, schemaProblem);
    reader.secret("appPassword", "the password of the application role", { required: true, check: passwordProblem });
    return {
        host: dbHost,
        port: dbPort,
        appUser,
        schemaName,
    };
}

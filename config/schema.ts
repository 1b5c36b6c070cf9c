/** Reaching the database from the deploying machine, and the schema, its application role and its password. */
import { passwordProblem, roleProblem } from "./database";
import { DEFAULTS, FORWARD_PORT, ServiceType } from "./defaults";
import { databaseRoute } from "./route";
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

/** The tunnel's local port when set; undefined when unset or refused. The scripts that start the tunnel read it here too. */
export function readTunnelPort(reader: Reader): number | undefined {
    return reader.integer("tunnelPort", "a local TCP port for the tunnel");
}

/** `serviceType` undefined: it was refused, so the checks that depend on it are skipped. */
export function readSchema(reader: Reader, serviceType: ServiceType | undefined, dbUser: string): SchemaSettings {
    const dbHost = reader.get("dbHost");
    if (dbHost !== undefined) {
        reader.text("dbHost", dbHost, hostProblem);
    }
    const dbPort = reader.integer("dbPort", "a TCP port");
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
    const tunnelPort = readTunnelPort(reader) ?? FORWARD_PORT;
    return {
        route: databaseRoute({ serviceType: serviceType ?? DEFAULTS.serviceType, dbHost, dbPort, tunnelPort }),
        appUser,
        schemaName,
    };
}

import type { SchemaSettings, ServiceType } from "./settings";

export interface Endpoint {
    readonly host: string;
    readonly port: number;
}

interface ServiceView {
    readonly type: ServiceType;
    readonly port: number;
    readonly nodePort?: number;
    readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[];
}

/**
 * Where the deploying machine reaches PostgreSQL: dbHost/dbPort when set, otherwise what the
 * Service exposes (the LoadBalancer's ingress, or the NodePort on dbHost).
 */
export function databaseEndpoint(schema: SchemaSettings, service: ServiceView): Endpoint {
    const ingress = service.ingress?.find((entry) => entry.ip || entry.hostname);
    const host = schema.host ?? ingress?.ip ?? ingress?.hostname;
    if (host === undefined) {
        throw new Error(`the ${service.type} Service exposes no address the deploying machine can use; ` +
            "set workshop-postgres:dbHost (and dbPort) to one that reaches PostgreSQL");
    }
    const exposedPort = service.type === "NodePort" ? service.nodePort : service.port;
    return { host, port: schema.port ?? exposedPort ?? service.port };
}

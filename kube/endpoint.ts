import type { ServiceType } from "../config/settings";

export interface Endpoint {
    readonly host: string;
    readonly port: number;
}

/** dbHost / dbPort from config, when set. */
export interface EndpointOverride {
    readonly host?: string;
    readonly port?: number;
}

export interface ServiceView {
    readonly type: ServiceType;
    readonly port: number;
    readonly nodePort?: number;
    readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[];
}

/**
 * Where the deploying machine reaches PostgreSQL: dbHost/dbPort when set, otherwise what the
 * Service exposes (the LoadBalancer's ingress, or the NodePort on dbHost).
 */
export function databaseEndpoint(override: EndpointOverride, service: ServiceView): Endpoint {
    const ingress = service.ingress?.find((entry) => entry.ip || entry.hostname);
    const host = override.host ?? ingress?.ip ?? ingress?.hostname;
    if (host === undefined) {
        throw new Error(`the ${service.type} Service exposes no address the deploying machine can use; ` +
            "set workshop-postgres:dbHost (and dbPort) to one that reaches PostgreSQL");
    }
    const exposedPort = service.type === "NodePort" ? service.nodePort : service.port;
    return { host, port: override.port ?? exposedPort ?? service.port };
}

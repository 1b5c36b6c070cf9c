/**
 * How the deploying machine reaches PostgreSQL: the postgresql provider, the SQL runner and
 * `npm run restore` connect there. One rule for the program and for the scripts that start the
 * tunnel (tunnel/), so both agree on whether a tunnel is needed and on its port.
 */
import type { ServiceType } from "./defaults";

/** The database's instance and Service name (index.ts); the tunnel forwards to the Ready pod behind it. */
export const DATABASE_SERVICE = "postgres";

/** The tunnel's local end: loopback only, so nothing else on the machine or its network reaches it. */
export const TUNNEL_HOST = "127.0.0.1";

export type DatabaseRoute =
    /** The API server's port-forward to the Ready pod, listening on TUNNEL_HOST:port (the default: nothing published). */
    | { readonly via: "tunnel"; readonly port: number }
    /** An address the user gives (dbHost), for a NodePort, a load balancer's name, or a port-forward of their own. */
    | { readonly via: "address"; readonly host: string; readonly port?: number }
    /** The LoadBalancer's address, read from the cluster once a controller assigns it. */
    | { readonly via: "loadBalancer"; readonly port?: number };

export interface RouteSettings {
    readonly serviceType: ServiceType;
    readonly dbHost?: string;
    readonly dbPort?: number;
    readonly tunnelPort: number;
}

export function databaseRoute(settings: RouteSettings): DatabaseRoute {
    if (settings.dbHost !== undefined) {
        return { via: "address", host: settings.dbHost, port: settings.dbPort };
    }
    if (settings.serviceType === "LoadBalancer") {
        return { via: "loadBalancer", port: settings.dbPort };
    }
    return { via: "tunnel", port: settings.tunnelPort };
}

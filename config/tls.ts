/** TLS of the server, and the mode the deploying machine's connections use with it. */
import { DEFAULTS, SSL_MODES } from "./defaults";
import { Reader } from "./reader";
import type { DatabaseRoute } from "./route";
import type { TlsSettings } from "./types";

/**
 * `route`: a load balancer's address is not known when the server's certificate is made, so that
 * route checks the CA only (verify-ca) unless dbHost names the address, which the certificate then holds.
 */
export function readTls(reader: Reader, route: DatabaseRoute): TlsSettings {
    const enabled = reader.flag("tls", DEFAULTS.tls);
    const set = reader.get("sslMode");
    const unnamed = route.via === "loadBalancer";
    const sslMode = reader.oneOf("sslMode", SSL_MODES, !enabled ? "disable" : unnamed ? "verify-ca" : DEFAULTS.sslMode);
    if (enabled && unnamed && sslMode === "verify-full") {
        reader.bad("sslMode", "verify-ca for a LoadBalancer without dbHost (its address is not known when the server's certificate is made, " +
            "so the name cannot be checked; the stack's CA still is), or set dbHost to the load balancer's address or DNS name, " +
            "which the certificate then holds", set);
    }
    // Only a mode the server can serve: with TLS it refuses TCP without TLS, without TLS it has no certificate.
    if (enabled && sslMode === "disable") {
        reader.bad("sslMode", "require, verify-ca or verify-full while tls is true (the server refuses TCP connections without TLS; " +
            "verify-full, the default, checks the stack's CA and the server's name), or tls false for a server without TLS", set);
    }
    if (!enabled && sslMode !== undefined && sslMode !== "disable") {
        reader.bad("sslMode", "disable while tls is false (the server then has no certificate), or tls true", set);
    }
    return { enabled, sslMode: sslMode ?? (unnamed ? "verify-ca" : DEFAULTS.sslMode) };
}

/** What preview and up print about TLS; undefined when there is nothing to say. */
export function tlsWarning(tls: TlsSettings): string | undefined {
    if (tls.enabled) {
        return undefined;
    }
    return "tls is false: PostgreSQL has no certificate and accepts connections without TLS, so passwords and data cross the " +
        "network in clear, the role passwords that pulumi up sets among them. To turn TLS on, in one up that keeps the data: " +
        "`npm run pulumi -- config rm tls` and `npm run pulumi -- config rm sslMode` (docs/tls.md)";
}

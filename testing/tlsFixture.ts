/**
 * Certificates for the tests, issued by the stack's own builders at the instant the test process
 * started: once per process for the CA and for each set of names, since each new key takes time.
 */
import { issueCa, issueServerCertificate, Issued, ServerNames } from "../tls/certificates";
import { STARTED_AT } from "./clock";

let ca: Issued | undefined;
const servers = new Map<string, Issued>();

/** The CA the mocked StackCa resource returns. */
export function testCa(): Issued {
    ca ??= issueCa("workshop-postgres test CA", new Date(STARTED_AT));
    return ca;
}

/** A server certificate of testCa() for `names`, as the mocked ServerCertificate resource returns it. */
export function testServerCertificate(names: ServerNames): Issued {
    const key = JSON.stringify(names);
    if (!servers.has(key)) {
        servers.set(key, issueServerCertificate(testCa(), names, new Date(STARTED_AT)));
    }
    return servers.get(key) as Issued;
}

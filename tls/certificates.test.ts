import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as forge from "node-forge";
import * as os from "os";
import * as path from "path";
import { CERTIFICATES } from "../config/defaults";
import { STARTED_AT } from "../testing/clock";
import { testCa, testServerCertificate } from "../testing/tlsFixture";
import { caFilePath, useCaFileRoot, writeCaFile } from "./caFile";
import { dueForRenewal, issueServerCertificate, serverNames } from "./certificates";
import { reissueReason, ServerCertificateOutputs } from "./stackCertificates";

const DAY_MS = 86_400_000;
/** The instant the fixtures were issued at: the tests' clock, never the calendar. */
const ISSUED_AT = STARTED_AT;
const NAMES = serverNames("postgres", "workshop");

function extension(pem: string, name: string): any {
    return forge.pki.certificateFromPem(pem).getExtension(name);
}

describe("the stack's CA and the server's certificate", () => {
    const ca = testCa();
    const server = testServerCertificate(NAMES);
    const caX509 = new crypto.X509Certificate(ca.certificate);
    const serverX509 = new crypto.X509Certificate(server.certificate);

    it("names the tunnel's end, every form of the Service's DNS name, and no other", () => {
        assert.deepStrictEqual(NAMES, {
            commonName: "postgres.workshop.svc.cluster.local",
            dnsNames: ["localhost", "postgres", "postgres.workshop", "postgres.workshop.svc", "postgres.workshop.svc.cluster.local"],
            ipAddresses: ["127.0.0.1"],
        });
        assert.strictEqual(serverX509.subjectAltName, "DNS:localhost, DNS:postgres, DNS:postgres.workshop, DNS:postgres.workshop.svc, " +
            "DNS:postgres.workshop.svc.cluster.local, IP Address:127.0.0.1");
        assert.strictEqual(serverX509.checkIP("127.0.0.1"), "127.0.0.1");
        assert.strictEqual(serverX509.checkHost("postgres.workshop.svc"), "postgres.workshop.svc");
        assert.strictEqual(serverX509.checkHost("postgres.other.svc"), undefined);
        assert.strictEqual(serverX509.checkIP("10.0.0.1"), undefined);
    });

    it("adds dbHost as a name or an address, once, without a root's trailing dot", () => {
        assert.deepStrictEqual(serverNames("postgres", "db", "DB.Example.com.").dnsNames.slice(5), ["db.example.com"]);
        assert.deepStrictEqual(serverNames("postgres", "db", "192.0.2.7").ipAddresses, ["127.0.0.1", "192.0.2.7"]);
        assert.deepStrictEqual(serverNames("postgres", "db", "fd00::10").ipAddresses, ["127.0.0.1", "fd00::10"]);
        assert.deepStrictEqual(serverNames("postgres", "db", "127.0.0.1"), serverNames("postgres", "db"));
        assert.deepStrictEqual(serverNames("postgres", "db", "localhost"), serverNames("postgres", "db"));
    });

    it("signs the server's certificate with the CA, which signed itself", () => {
        assert.ok(caX509.ca);
        assert.ok(caX509.checkIssued(caX509));
        assert.ok(caX509.verify(caX509.publicKey));
        assert.ok(!serverX509.ca);
        assert.ok(serverX509.checkIssued(caX509));
        assert.ok(serverX509.verify(caX509.publicKey));
        assert.strictEqual(serverX509.issuer, caX509.subject);
        assert.ok(serverX509.checkPrivateKey(crypto.createPrivateKey(server.privateKey)), "the key is the certificate's");
        assert.ok(caX509.checkPrivateKey(crypto.createPrivateKey(ca.privateKey)));
        const other = issueServerCertificate(ca, NAMES, new Date(ISSUED_AT));
        assert.notStrictEqual(other.privateKey, server.privateKey, "every certificate has a key of its own");
        assert.notStrictEqual(new crypto.X509Certificate(other.certificate).serialNumber, serverX509.serialNumber);
    });

    it("limits each key to its use: the CA signs certificates, the server's key serves TLS", () => {
        assert.deepStrictEqual(
            (({ critical, cA, pathLenConstraint }) => ({ critical, cA, pathLenConstraint }))(extension(ca.certificate, "basicConstraints")),
            { critical: true, cA: true, pathLenConstraint: 0 });
        const caUsage = extension(ca.certificate, "keyUsage");
        assert.deepStrictEqual([caUsage.critical, caUsage.keyCertSign, caUsage.cRLSign, caUsage.digitalSignature], [true, true, true, false]);
        const serverUsage = extension(server.certificate, "keyUsage");
        assert.deepStrictEqual([serverUsage.critical, serverUsage.digitalSignature, serverUsage.keyEncipherment, serverUsage.keyCertSign],
            [true, true, true, false]);
        assert.deepStrictEqual(serverX509.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extended key usage: TLS server authentication only");
        assert.strictEqual(extension(server.certificate, "basicConstraints").cA, false);
        assert.strictEqual(new crypto.X509Certificate(server.certificate).publicKey.asymmetricKeyDetails?.modulusLength, CERTIFICATES.rsaBits);
    });

    it("dates both from the instant of issue, an hour back for clocks behind, for their lifetimes", () => {
        assert.strictEqual(caX509.validFromDate.getTime(), Math.floor((ISSUED_AT - 3_600_000) / 1000) * 1000);
        assert.strictEqual(caX509.validToDate.getTime(), Math.floor((ISSUED_AT + CERTIFICATES.caDays * DAY_MS) / 1000) * 1000);
        assert.strictEqual(serverX509.validFromDate.getTime(), caX509.validFromDate.getTime());
        assert.strictEqual(serverX509.validToDate.getTime(), Math.floor((ISSUED_AT + CERTIFICATES.serverDays * DAY_MS) / 1000) * 1000);
    });

    it("is due for renewal from renewDays before its end", () => {
        const renewFrom = ISSUED_AT + (CERTIFICATES.serverDays - CERTIFICATES.renewDays) * DAY_MS;
        assert.strictEqual(dueForRenewal(server.certificate, new Date(ISSUED_AT)), false);
        assert.strictEqual(dueForRenewal(server.certificate, new Date(renewFrom - DAY_MS)), false);
        assert.strictEqual(dueForRenewal(server.certificate, new Date(renewFrom + 1000)), true);
        assert.strictEqual(dueForRenewal(server.certificate, new Date(ISSUED_AT + CERTIFICATES.serverDays * 2 * DAY_MS)), true);
    });

    it("issues the server a new certificate for a new CA, other names or a near end, and keeps it otherwise", () => {
        const olds: ServerCertificateOutputs = { kind: "server", ca, names: NAMES, ...server };
        const now = new Date(ISSUED_AT);
        assert.strictEqual(reissueReason(olds, { kind: "server", ca, names: NAMES }, now), undefined);
        assert.strictEqual(reissueReason(olds, { kind: "server", ca, names: serverNames("postgres", "workshop", "db.example.com") }, now), "other names");
        const otherCa = { certificate: server.certificate, privateKey: server.privateKey };
        assert.strictEqual(reissueReason(olds, { kind: "server", ca: otherCa, names: NAMES }, now), "a new CA");
        assert.strictEqual(reissueReason(olds, { kind: "server", ca, names: NAMES }, new Date(ISSUED_AT + CERTIFICATES.serverDays * DAY_MS)), "its end is near");
    });
});

describe("the CA's file on the deploying machine", () => {
    let root: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "ca-file-"));
        useCaFileRoot(root);
    });
    afterEach(() => {
        useCaFileRoot(undefined);
        fs.rmSync(root, { recursive: true, force: true });
    });

    it("lives at .workshop-tls/<stack>/ca.crt, relative to the project, so the provider's setting is the same on every machine", () => {
        assert.strictEqual(caFilePath("dev"), ".workshop-tls/dev/ca.crt");
        assert.strictEqual(caFilePath("my-stack_2.x"), ".workshop-tls/my-stack_2.x/ca.crt");
        assert.throws(() => caFilePath(".."), /"\.\." is not a stack name/);
        assert.throws(() => caFilePath("a/b"), /"a\/b" is not a stack name/);
    });

    it("is written with the CA's PEM, and again only when it differs", () => {
        const pem = testCa().certificate;
        assert.strictEqual(writeCaFile("dev", pem), ".workshop-tls/dev/ca.crt");
        const file = path.join(root, ".workshop-tls/dev/ca.crt");
        assert.strictEqual(fs.readFileSync(file, "utf8"), pem);
        fs.utimesSync(file, 0, 0);
        writeCaFile("dev", pem);
        assert.strictEqual(fs.statSync(file).mtimeMs, 0, "not rewritten");
        writeCaFile("dev", `${pem}\n`);
        assert.strictEqual(fs.readFileSync(file, "utf8"), `${pem}\n`);
    });
});

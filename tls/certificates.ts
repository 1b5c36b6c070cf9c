/**
 * The stack's CA and the server certificates it signs, as pure functions of their inputs and the
 * instant they are issued at: no clock is read here, and no state kept. RSA keys (what every
 * PostgreSQL client accepts) come from Node's crypto; node-forge builds and signs the certificates.
 */
import * as crypto from "crypto";
import * as net from "net";
import * as forge from "node-forge";
import { CERTIFICATES } from "../config/defaults";

const DAY_MS = 86_400_000;
/** notBefore lies this far before the instant of issue, so that a clock a little behind the issuer's still accepts a new certificate. */
const BACKDATE_MS = 3_600_000;

/** A certificate and its private key, both PEM; the key is the secret part. */
export interface Issued {
    readonly certificate: string;
    readonly privateKey: string;
}

/** The names a server certificate is valid for: host names and IP addresses. */
export interface ServerNames {
    /** The subject's name; clients check the alternative names below, never this one. */
    readonly commonName: string;
    readonly dnsNames: readonly string[];
    readonly ipAddresses: readonly string[];
}

/**
 * The names clients reach the server by: the deploying machine through the tunnel (`localhost`,
 * 127.0.0.1), pods by every form of the Service's DNS name, and `dbHost` when set.
 */
export function serverNames(service: string, namespace: string, dbHost?: string): ServerNames {
    const commonName = `${service}.${namespace}.svc.cluster.local`;
    const dnsNames = ["localhost", service, `${service}.${namespace}`, `${service}.${namespace}.svc`, commonName];
    const ipAddresses = ["127.0.0.1"];
    if (dbHost !== undefined) {
        // A host name may be written with its root's trailing dot; the certificate names it without.
        const host = dbHost.replace(/\.$/, "").toLowerCase();
        const list = net.isIP(host) === 0 ? dnsNames : ipAddresses;
        if (!list.includes(host)) {
            list.push(host);
        }
    }
    return { commonName, dnsNames, ipAddresses };
}

function newKeyPair(): { privateKeyPem: string; privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
    const pair = crypto.generateKeyPairSync("rsa", {
        modulusLength: CERTIFICATES.rsaBits,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    return {
        privateKeyPem: pair.privateKey,
        privateKey: forge.pki.privateKeyFromPem(pair.privateKey),
        publicKey: forge.pki.publicKeyFromPem(pair.publicKey) as forge.pki.rsa.PublicKey,
    };
}

/** A positive serial number of 128 random bits, as RFC 5280 asks (at most 20 octets, unpredictable). */
function serialNumber(): string {
    const bytes = crypto.randomBytes(16);
    bytes[0] &= 0x7f;
    return bytes.toString("hex");
}

function validity(certificate: forge.pki.Certificate, now: Date, days: number): void {
    certificate.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
    certificate.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

/** A self-signed CA that signs server certificates only (path length 0), valid for CERTIFICATES.caDays from `now`. */
export function issueCa(commonName: string, now: Date): Issued {
    const keys = newKeyPair();
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = keys.publicKey;
    certificate.serialNumber = serialNumber();
    validity(certificate, now, CERTIFICATES.caDays);
    const subject = [{ name: "commonName", value: commonName }];
    certificate.setSubject(subject);
    certificate.setIssuer(subject);
    certificate.setExtensions([
        { name: "basicConstraints", critical: true, cA: true, pathLenConstraint: 0 },
        { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true },
        { name: "subjectKeyIdentifier" },
    ]);
    certificate.sign(keys.privateKey, forge.md.sha256.create());
    return { certificate: forge.pki.certificateToPem(certificate), privateKey: keys.privateKeyPem };
}

/** A TLS server certificate for `names`, signed by `ca`, valid for CERTIFICATES.serverDays from `now`, with a new key. */
export function issueServerCertificate(ca: Issued, names: ServerNames, now: Date): Issued {
    const caCertificate = forge.pki.certificateFromPem(ca.certificate);
    const caKey = forge.pki.privateKeyFromPem(ca.privateKey);
    const keys = newKeyPair();
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = keys.publicKey;
    certificate.serialNumber = serialNumber();
    validity(certificate, now, CERTIFICATES.serverDays);
    certificate.setSubject([{ name: "commonName", value: names.commonName }]);
    certificate.setIssuer(caCertificate.subject.attributes);
    certificate.setExtensions([
        { name: "basicConstraints", critical: true, cA: false },
        { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectKeyIdentifier" },
        { name: "authorityKeyIdentifier", keyIdentifier: caCertificate.generateSubjectKeyIdentifier().getBytes() },
        {
            name: "subjectAltName",
            altNames: [
                ...names.dnsNames.map((value) => ({ type: 2, value })),
                ...names.ipAddresses.map((ip) => ({ type: 7, ip })),
            ],
        },
    ]);
    certificate.sign(caKey, forge.md.sha256.create());
    return { certificate: forge.pki.certificateToPem(certificate), privateKey: keys.privateKeyPem };
}

/** Whether a certificate ends within CERTIFICATES.renewDays of `now` (or already has): the next `up` issues a new one. */
export function dueForRenewal(certificate: string, now: Date): boolean {
    const notAfter = forge.pki.certificateFromPem(certificate).validity.notAfter;
    return notAfter.getTime() - now.getTime() <= CERTIFICATES.renewDays * DAY_MS;
}

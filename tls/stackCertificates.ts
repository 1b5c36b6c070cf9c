/**
 * The stack's CA and the server's certificate as Pulumi dynamic resources: issued in the engine's
 * dynamic-provider process, kept in the state with their keys as secrets, and issued again only when
 * something asks for it. The certificates themselves are tls/certificates.ts's.
 */
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { dueForRenewal, issueCa, issueServerCertificate, Issued, ServerNames } from "./certificates";

export interface CaInputs {
    /** Tells the mocks' dynamic resources apart; the engine only stores it. */
    readonly kind: "ca";
    readonly commonName: string;
}

export type CaOutputs = CaInputs & Issued;

export interface ServerCertificateInputs {
    readonly kind: "server";
    /** The CA that signs: its certificate, and its key (a secret). */
    readonly ca: Issued;
    readonly names: ServerNames;
}

export type ServerCertificateOutputs = ServerCertificateInputs & Issued;

function idOf(certificate: string): string {
    return new crypto.X509Certificate(certificate).serialNumber.toLowerCase();
}

/** The CA is created once and kept: no input change issues a new one; `pulumi up --replace` does (docs/tls.md). */
export const caProvider: pulumi.dynamic.ResourceProvider<CaInputs, CaOutputs> = {
    async diff() {
        return { changes: false };
    },

    async create(inputs) {
        const issued = issueCa(inputs.commonName, new Date());
        return { id: idOf(issued.certificate), outs: { ...inputs, ...issued } };
    },

    // Nothing to remove: the certificate lives on only where the stack put it.
    async delete() {
        return;
    },
};

/** Why the server needs a new certificate, or undefined while the one it has still fits. */
export function reissueReason(olds: ServerCertificateOutputs, news: ServerCertificateInputs, now: Date): string | undefined {
    if (olds.ca.certificate !== news.ca.certificate) {
        return "a new CA";
    }
    if (JSON.stringify(olds.names) !== JSON.stringify(news.names)) {
        return "other names";
    }
    if (dueForRenewal(olds.certificate, now)) {
        return "its end is near";
    }
    return undefined;
}

function issue(inputs: ServerCertificateInputs): ServerCertificateOutputs {
    return { ...inputs, ...issueServerCertificate(inputs.ca, inputs.names, new Date()) };
}

/** The server's certificate: a new one (and a new key) for new names, a new CA, or near its end; otherwise kept. */
export const serverCertificateProvider: pulumi.dynamic.ResourceProvider<ServerCertificateInputs, ServerCertificateOutputs> = {
    async diff(_id, olds, news) {
        return { changes: reissueReason(olds, news, new Date()) !== undefined };
    },

    async create(inputs) {
        const outs = issue(inputs);
        return { id: idOf(outs.certificate), outs };
    },

    async update(_id, _olds, news) {
        return { outs: issue(news) };
    },

    async delete() {
        return;
    },
};

/** The stack's own CA. */
export class StackCa extends pulumi.dynamic.Resource {
    /** PEM; public: clients verify the server with it. */
    public declare readonly certificate: pulumi.Output<string>;
    /** PEM; a secret. */
    public declare readonly privateKey: pulumi.Output<string>;

    constructor(name: string, args: { commonName: string }, opts?: pulumi.CustomResourceOptions) {
        const inputs: Record<keyof CaOutputs, unknown> = { kind: "ca", commonName: args.commonName, certificate: undefined, privateKey: undefined };
        super(caProvider, name, inputs, { ...opts, additionalSecretOutputs: ["privateKey"] });
    }
}

export interface ServerCertificateArgs {
    readonly ca: StackCa;
    readonly names: pulumi.Input<ServerNames>;
}

/** A server certificate signed by the stack's CA. */
export class ServerCertificate extends pulumi.dynamic.Resource {
    public declare readonly certificate: pulumi.Output<string>;
    public declare readonly privateKey: pulumi.Output<string>;

    constructor(name: string, args: ServerCertificateArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs: Record<keyof ServerCertificateOutputs, unknown> = {
            kind: "server",
            ca: pulumi.secret(pulumi.all([args.ca.certificate, args.ca.privateKey]).apply(([certificate, privateKey]) => ({ certificate, privateKey }))),
            names: args.names,
            certificate: undefined,
            privateKey: undefined,
        };
        super(serverCertificateProvider, name, inputs, { ...opts, additionalSecretOutputs: ["ca", "privateKey"] });
    }
}

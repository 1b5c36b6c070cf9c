/** The dynamic providers as the engine runs them: serialised by Pulumi, in a Node process of their own. */
import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { serverNames } from "./certificates";
import { caProvider, serverCertificateProvider } from "./stackCertificates";

describe("the certificates' dynamic providers, serialised as the engine runs them", function () {
    this.timeout(60_000);

    it("create a CA, then a server certificate it signs, in a process that has only the serialised code", async () => {
        const ca = await pulumi.runtime.serializeFunction(() => caProvider);
        const server = await pulumi.runtime.serializeFunction(() => serverCertificateProvider);
        // Inside the project so that the serialised code's require("node-forge") resolves as in the engine.
        const directory = fs.mkdtempSync(path.resolve(__dirname, "../node_modules/.serialized-"));
        try {
            fs.writeFileSync(path.join(directory, "ca.js"), ca.text);
            fs.writeFileSync(path.join(directory, "server.js"), server.text);
            const names = serverNames("postgres", "workshop");
            const script = `(async () => {
                const ca = require(${JSON.stringify(path.join(directory, "ca.js"))}).${ca.exportName}();
                const server = require(${JSON.stringify(path.join(directory, "server.js"))}).${server.exportName}();
                const created = await ca.create({ kind: "ca", commonName: "test CA" });
                const issued = await server.create({ kind: "server", ca: { certificate: created.outs.certificate, privateKey: created.outs.privateKey }, names: ${JSON.stringify(names)} });
                const kept = await server.diff(issued.id, issued.outs, { kind: "server", ca: issued.outs.ca, names: issued.outs.names });
                console.log(JSON.stringify({ created, issued, kept, caDiff: await ca.diff(created.id, created.outs, { kind: "ca", commonName: "renamed" }) }));
            })().catch((e) => { console.error(e); process.exit(1); });`;
            const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 });
            assert.strictEqual(child.status, 0, child.stderr);
            const { created, issued, kept, caDiff } = JSON.parse(child.stdout);
            const caCertificate = new crypto.X509Certificate(created.outs.certificate);
            const serverCertificate = new crypto.X509Certificate(issued.outs.certificate);
            assert.strictEqual(created.id, caCertificate.serialNumber.toLowerCase());
            assert.ok(serverCertificate.checkIssued(caCertificate) && serverCertificate.verify(caCertificate.publicKey));
            assert.strictEqual(serverCertificate.checkIP("127.0.0.1"), "127.0.0.1");
            assert.deepStrictEqual(kept, { changes: false });
            assert.deepStrictEqual(caDiff, { changes: false }, "the CA is kept whatever its inputs say");
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });
});

/**
 * Decrypts values of a stack file that uses Pulumi's passphrase secrets provider:
 * PBKDF2-SHA256 (1,000,000 rounds) over the stack's salt, then AES-256-GCM per value ("v1:nonce:ciphertext").
 */
import * as crypto from "crypto";

export function passphraseKey(passphrase: string, encryptionSalt: string): Buffer {
    const [version, salt, ...check] = encryptionSalt.split(":");
    if (version !== "v1" || salt === undefined) {
        throw new Error("unsupported encryptionsalt");
    }
    const key = crypto.pbkdf2Sync(passphrase, Buffer.from(salt, "base64"), 1_000_000, 32, "sha256");
    // The salt carries "pulumi" encrypted with the key: a wrong passphrase fails here.
    if (decryptValue(key, check.join(":")) !== "pulumi") {
        throw new Error("incorrect passphrase");
    }
    return key;
}

export function decryptValue(key: Buffer, value: string): string {
    const [version, nonce, sealed] = value.split(":");
    if (version !== "v1" || nonce === undefined || sealed === undefined) {
        throw new Error("bad secure value");
    }
    const bytes = Buffer.from(sealed, "base64");
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
}

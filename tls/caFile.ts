/**
 * The stack's CA certificate as a file on the deploying machine. The postgresql provider's
 * `sslrootcert` is a path, read by the provider's process whenever it connects, `pulumi refresh` and
 * `destroy` included, which do not run the program: so the path is relative to the project's
 * directory (the working directory of the program and of every plugin), the same on every machine and
 * every run, and scripts/pulumi.sh writes the same file from the stack output `caCertificate` before
 * the commands that do not run the program.
 */
import * as fs from "fs";
import * as path from "path";

/** Not committed (.gitignore): it is rewritten from the stack. */
export const CA_DIRECTORY = ".workshop-tls";

/** `.workshop-tls/<stack>/ca.crt`, relative to the project's directory. */
export function caFilePath(stack: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(stack) || /^\.+$/.test(stack)) {
        throw new Error(`${JSON.stringify(stack)} is not a stack name (letters, digits, _, . and -)`);
    }
    return `${CA_DIRECTORY}/${stack}/ca.crt`;
}

let root: string | undefined;

/** The directory the file is written under (tests); undefined restores the working directory, the project's. */
export function useCaFileRoot(directory: string | undefined): void {
    root = directory;
}

/** Writes the CA's PEM where caFilePath says, unless it is there already; returns that relative path. */
export function writeCaFile(stack: string, pem: string): string {
    const relative = caFilePath(stack);
    const file = path.resolve(root ?? process.cwd(), relative);
    if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== pem) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, pem);
    }
    return relative;
}

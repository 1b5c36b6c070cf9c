/**
 * scripts/pulumi.sh runs this around the Pulumi CLI:
 *
 *   tunnel/main.ts --stack <stack> -- pulumi up --stack <stack>   the tunnel for as long as the command runs
 *   tunnel/main.ts --stack <stack>                                the tunnel until Ctrl-C (`npm run tunnel`)
 *
 * It lives around the CLI, not in the program, because the engine connects to the database after
 * the program has ended (deletes, the old halves of replacements) and `refresh` and `destroy` do
 * not run the program at all. It reads the stack's settings as the program does (the same route
 * rule and defaults) and starts only when the stack reaches PostgreSQL through it.
 */
import { spawn, spawnSync } from "child_process";
import * as os from "os";
import * as path from "path";
import { DEFAULTS, FORWARD_PORT, LIMITS, PROJECT, ServiceType } from "../config/settings";
import { Reader } from "../config/reader";
import { DATABASE_SERVICE, databaseRoute, TUNNEL_HOST } from "../config/route";
import { readTunnelPort } from "../config/schema";
import { useCaFileRoot, writeCaFile } from "../tls/caFile";
import { startTunnel, Tunnel } from "./tunnel";

const ROOT = path.resolve(__dirname, "..");

function say(line: string): void {
    process.stderr.write(`tunnel: ${line}\n`);
}

/** The stack's config as `pulumi config --json` prints it (secrets stay hidden: none is needed here). */
function stackConfig(stack: string): Record<string, string | undefined> {
    const shown = spawnSync("pulumi", ["config", "--json", "--stack", stack], { cwd: ROOT, encoding: "utf8" });
    if (shown.status !== 0) {
        throw new Error(`pulumi config --json --stack ${stack}: ${(shown.stderr || shown.error?.message || "").trim()}`);
    }
    const entries = JSON.parse(shown.stdout) as Record<string, { value?: unknown; objectValue?: unknown; secret?: boolean }>;
    return Object.fromEntries(Object.entries(entries).filter(([, entry]) => !entry.secret)
        .map(([key, entry]) => [key, entry.value === undefined ? undefined : String(entry.value)]));
}

/** What the tunnel needs of the settings; undefined when the stack does not reach PostgreSQL through it. */
export function tunnelSettings(config: Record<string, string | undefined>) {
    const get = (key: string) => config[`${PROJECT}:${key}`];
    // The program's own check and message: it refuses the same value at preview; refresh and destroy would fail to connect.
    const reader = new Reader({ get, hasSecret: () => false });
    const port = readTunnelPort(reader) ?? FORWARD_PORT;
    if (reader.problems.length > 0) {
        return { problem: reader.problems[0] };
    }
    const route = databaseRoute({
        serviceType: (get("serviceType") ?? DEFAULTS.serviceType) as ServiceType,
        dbHost: get("dbHost"),
        dbPort: get("dbPort") === undefined ? undefined : Number(get("dbPort")),
        tunnelPort: port,
    });
    if (route.via !== "tunnel") {
        return { route };
    }
    return {
        route,
        namespace: get("namespace") ?? DEFAULTS.namespace,
        cluster: { kubeconfig: config["kubernetes:kubeconfig"], context: config["kubernetes:context"], cluster: config["kubernetes:cluster"] },
    };
}

async function main(argv: string[]): Promise<number> {
    const separator = argv.indexOf("--");
    const own = separator < 0 ? argv : argv.slice(0, separator);
    const command = separator < 0 ? [] : argv.slice(separator + 1);
    const stack = own[own.indexOf("--stack") + 1];
    if (own.indexOf("--stack") < 0 || stack === undefined) {
        say("usage: tunnel/main.ts --stack <stack> [-- <command>...]");
        return 2;
    }
    const settings = tunnelSettings(stackConfig(stack));
    let tunnel: Tunnel | undefined;
    if ("problem" in settings) {
        say(settings.problem as string);
        if (command.length === 0) {
            return 1;
        }
    } else if (settings.route.via !== "tunnel") {
        say(`stack ${stack} reaches PostgreSQL ${settings.route.via === "address" ? `at ${settings.route.host}` : "at its LoadBalancer's address"}: no tunnel`);
    } else {
        try {
            tunnel = await startTunnel({ cluster: settings.cluster!, namespace: settings.namespace!, service: DATABASE_SERVICE, port: settings.route.port, log: say });
        } catch (error) {
            const code = (error as { code?: string }).code;
            say(code === "EADDRINUSE"
                ? `${TUNNEL_HOST}:${settings.route.port} is in use (an \`npm run tunnel\` of this stack in another terminal?): stop what holds it, ` +
                    `or give this stack another port with \`npm run pulumi -- config set tunnelPort <${LIMITS.tunnelPort.min}-${LIMITS.tunnelPort.max}>\``
                : (error as Error).message);
            return 1;
        }
        say(`${TUNNEL_HOST}:${tunnel.port} -> Service ${settings.namespace}/${DATABASE_SERVICE}'s Ready pod, through ${tunnel.server}`);
    }
    // refresh and destroy do not run the program, which writes the CA file the provider verifies the server with.
    const ca = spawnSync("pulumi", ["stack", "output", "caCertificate", "--stack", stack], { cwd: ROOT, encoding: "utf8" });
    if (ca.status === 0 && ca.stdout.includes("BEGIN CERTIFICATE")) {
        useCaFileRoot(ROOT);
        writeCaFile(stack, `${ca.stdout.trim()}\n`);
    }
    if (command.length === 0) {
        if (tunnel === undefined) {
            return 0;
        }
        say("Ctrl-C stops it");
        await new Promise<void>((resolve) => ["SIGINT", "SIGTERM", "SIGHUP"].forEach((signal) => process.once(signal, () => resolve())));
        await tunnel.close();
        return 0;
    }
    const child = spawn(command[0], command.slice(1), { stdio: "inherit", cwd: ROOT });
    // Ctrl-C reaches the CLI from the terminal, and the CLI may still need the database to finish: the tunnel stays until it exits.
    process.on("SIGINT", () => undefined);
    for (const signal of ["SIGTERM", "SIGHUP"] as const) {
        process.on(signal, () => child.kill(signal));
    }
    const code = await new Promise<number>((resolve) => {
        child.on("error", (error) => {
            say(`${command[0]}: ${error.message}`);
            resolve(127);
        });
        // As a shell reports a command a signal ended: 128 + its number.
        child.on("exit", (status, signal) => resolve(status ?? (signal ? 128 + os.constants.signals[signal] : 1)));
    });
    await tunnel?.close();
    return code;
}

if (require.main === module) {
    main(process.argv.slice(2)).then((code) => process.exit(code), (error: Error) => {
        say(error.message);
        process.exit(1);
    });
}

/**
 * One source for every default and limit: Pulumi.yaml's `template.config`, the tables of
 * docs/configuration.md and what the parser applies must say the same about every key.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { KEYS, PROJECT } from "./settings";
import { parseSettings } from "./settings";

const ROOT = path.resolve(__dirname, "..");

interface TemplateKey {
    readonly description?: string;
    readonly default?: unknown;
    readonly secret?: boolean;
}

function template(): Record<string, TemplateKey> {
    const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { template: { config: Record<string, TemplateKey> } };
    return Object.fromEntries(Object.entries(project.template.config).map(([key, spec]) => [key.slice(PROJECT.length + 1), spec ?? {}]));
}

interface DocRow {
    readonly defaultCell: string;
    readonly meaning: string;
    /** This key's own default: its part of a cell shared by `a` / `b`. */
    readonly defaultOfKey: string;
}

/** Every row of the key tables in docs/configuration.md, by key. */
function documented(): Record<string, DocRow> {
    const rows: Record<string, DocRow> = {};
    for (const line of fs.readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8").split("\n")) {
        const cells = line.split("|").slice(1, -1).map((cell) => cell.trim());
        if (cells.length !== 3 || !cells[0].startsWith("`")) {
            continue;
        }
        const keys = cells[0].split(" / ").map((key) => key.replace(/`/g, ""));
        const defaults = cells[1].split(" / ");
        keys.forEach((key, index) => {
            assert.ok(!(key in rows), `${key} has two rows`);
            rows[key] = { defaultCell: cells[1], meaning: cells[2], defaultOfKey: (defaults.length === keys.length ? defaults[index] : cells[1]).trim() };
        });
    }
    return rows;
}

describe("every default and limit, said once", () => {
    const keys = Object.keys(KEYS).sort();

    it("Pulumi.yaml documents every key the parser knows, and no other", () => {
        assert.deepStrictEqual(Object.keys(template()).sort(), keys);
    });

    it("docs/configuration.md has one row for every key the parser knows, and no other", () => {
        assert.deepStrictEqual(Object.keys(documented()).sort(), keys);
    });

    for (const [key, spec] of Object.entries(KEYS)) {
        it(`${key}: the same default${spec.secret ? ", secrecy" : ""}${spec.range || spec.quantity ? " and limits" : ""} everywhere`, () => {
            const inTemplate = template()[key];
            const inDocs = documented()[key];
            assert.strictEqual(inTemplate.default === undefined ? undefined : String(inTemplate.default), spec.default, "Pulumi.yaml's default");
            assert.strictEqual(inTemplate.secret === true, spec.secret === true, "Pulumi.yaml's secret");
            if (spec.default === undefined) {
                assert.doesNotMatch(inDocs.defaultOfKey, /`/, "the docs name no default");
            } else {
                assert.strictEqual(inDocs.defaultOfKey, `\`${spec.default}\``, "the docs' default");
            }
            if (spec.secret) {
                assert.match(inDocs.defaultCell, /secret/, "the docs say it is a secret");
            }
            if (spec.range) {
                assert.ok(inDocs.meaning.includes(`${spec.range.min}–${spec.range.max}`), `the docs give the range ${spec.range.min}–${spec.range.max}`);
                assert.ok(inTemplate.description?.includes(`${spec.range.min}-${spec.range.max}`), `Pulumi.yaml gives the range ${spec.range.min}-${spec.range.max}`);
            }
            if (spec.quantity) {
                assert.ok(inDocs.meaning.includes(`\`${spec.quantity.min}\`–\`${spec.quantity.max}\``), `the docs give the bounds ${spec.quantity.min}–${spec.quantity.max}`);
                assert.ok(inTemplate.description?.includes(`${spec.quantity.min}-${spec.quantity.max}`), `Pulumi.yaml gives the bounds ${spec.quantity.min}-${spec.quantity.max}`);
            }
        });
    }

    it("the parser applies those defaults to a stack that sets only what is required", () => {
        const required: Record<string, string> = { dbName: "WORKSHOP", alertTo: "ops@example.com", alertFrom: "alerts@example.com" };
        const settings = parseSettings({
            get: (key) => required[key],
            hasSecret: (key) => ["dbPassword", "appPassword", "backupPassword"].includes(key),
            keys: () => Object.keys(required),
        });
        const applied: Record<string, unknown> = {
            namespace: settings.namespace, createNamespace: settings.createNamespace, dbUser: settings.dbUser, image: settings.image,
            storageSize: settings.storageSize, cpuRequest: settings.resources.requests.cpu, memoryRequest: settings.resources.requests.memory,
            cpuLimit: settings.resources.limits.cpu, memoryLimit: settings.resources.limits.memory, allowDataDeletion: settings.allowDataDeletion,
            tls: settings.tls.enabled, sslMode: settings.tls.sslMode, appUser: settings.schema.appUser, schemaName: settings.schema.schemaName,
            alertSubjectPrefix: settings.alert.subjectPrefix, alertDeadlineSeconds: settings.alert.deadlineSeconds, alertImage: settings.alert.image,
            watcherEnabled: settings.watcher.enabled, watcherNotReadySeconds: settings.watcher.notReadySeconds,
            backupEnabled: settings.backup.enabled, backupSchedule: settings.backup.schedule, backupKeep: settings.backup.keep,
            backupStorageSize: settings.backup.storageSize, backupUser: settings.backup.user,
            publicCredentials: settings.exposure.publicCredentials.length > 0, clusterIsPrivate: settings.exposure.clusterIsPrivate,
            serviceType: settings.serviceType, tunnelPort: settings.schema.route.via === "tunnel" ? settings.schema.route.port : settings.schema.route,
        };
        const defaults = Object.entries(KEYS).filter(([, spec]) => spec.default !== undefined);
        assert.deepStrictEqual(Object.keys(applied).sort(), defaults.map(([key]) => key).sort(), "every default is looked at");
        for (const [key, spec] of defaults) {
            assert.strictEqual(String(applied[key]), spec.default, key);
        }
    });
});

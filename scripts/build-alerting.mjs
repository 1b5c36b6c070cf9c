// Bundles each entry point of alerting/src into one minified JavaScript file in alerting/dist,
// which the Pulumi program ships into the cluster in a ConfigMap (no image to build).
// The watcher carries @kubernetes/client-node (about 1.9 MB minified), more than a ConfigMap holds,
// so it also gets a gzip copy that the pod unpacks in memory.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ENTRY_POINTS = { "pod-down-alert": "alerting/src/preStop.ts", "pod-watcher": "alerting/src/watcher.ts" };
const COMPRESSED = new Set(["pod-watcher"]);

const result = await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([name, file]) => [name, path.join(root, file)])),
    outdir: path.join(root, "alerting/dist"),
    bundle: true,
    platform: "node",
    // The sidecar image is Node 24; node22 keeps the bundle runnable on the previous LTS too.
    target: "node22",
    format: "cjs",
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "error",
});
for (const [file, output] of Object.entries(result.metafile.outputs)) {
    let line = `${path.relative(root, file)}: ${output.bytes} bytes`;
    if (COMPRESSED.has(path.basename(file, ".js"))) {
        const compressed = gzipSync(fs.readFileSync(file), { level: 9 });
        fs.writeFileSync(`${file}.gz`, compressed);
        line += `, ${compressed.length} gzipped`;
    }
    console.log(line);
}

// Bundles each entry point of alerting/src into one minified JavaScript file in alerting/dist,
// which the Pulumi program ships into the cluster in a ConfigMap (no image to build).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ENTRY_POINTS = { "pod-down-alert": "alerting/src/preStop.ts" };

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
    logLevel: "warning",
});
for (const [file, output] of Object.entries(result.metafile.outputs)) {
    console.log(`${path.relative(root, file)}: ${output.bytes} bytes`);
}

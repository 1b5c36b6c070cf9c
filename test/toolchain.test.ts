import * as assert from "assert";
import * as packageJson from "../package.json";

describe("the toolchain", () => {
    it("runs on the Node.js major the project pins, not on the machine's", () => {
        const pinned = /(\d+)/.exec(packageJson.devDependencies.node)?.[1];
        assert.strictEqual(process.versions.node.split(".")[0], pinned);
    });

    it("pins TypeScript below 7, which @pulumi/pulumi does not accept", () => {
        assert.match(packageJson.devDependencies.typescript, /^~5\./);
    });
});

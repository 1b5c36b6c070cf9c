import * as assert from "assert";
import { tunnelSettings } from "./main";

describe("whether the scripts start the tunnel, read from the stack's config", () => {
    const of = (config: Record<string, string>) => tunnelSettings(Object.fromEntries(Object.entries(config).map(([key, value]) =>
        [key.includes(":") ? key : `workshop-postgres:${key}`, value])));

    it("by default: on 127.0.0.1:15432 to the default namespace, through the provider's own cluster settings", () => {
        assert.deepStrictEqual(of({}), { route: { via: "tunnel", port: 15432 }, namespace: "workshop", cluster: { kubeconfig: undefined, context: undefined, cluster: undefined } });
        assert.deepStrictEqual(of({ namespace: "db", tunnelPort: "25432", "kubernetes:context": "kind-kind" }),
            { route: { via: "tunnel", port: 25432 }, namespace: "db", cluster: { kubeconfig: undefined, context: "kind-kind", cluster: undefined } });
    });

    it("not when the stack reaches PostgreSQL another way", () => {
        assert.deepStrictEqual(of({ dbHost: "192.168.49.2", serviceType: "NodePort" }), { route: { via: "address", host: "192.168.49.2", port: undefined } });
        assert.deepStrictEqual(of({ serviceType: "LoadBalancer" }), { route: { via: "loadBalancer", port: undefined } });
    });

    it("names a tunnel port it cannot use, in the program's own words", () => {
        assert.deepStrictEqual(of({ tunnelPort: "80" }), { problem: 'workshop-postgres:tunnelPort: expected a local TCP port for the tunnel: a whole number from 1024 to 65535; got "80"' });
    });
});

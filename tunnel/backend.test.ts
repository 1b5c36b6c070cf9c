import * as assert from "assert";
import { MINUTE, STARTED_AT } from "../testing/clock";
import { Backend, chooseBackend, PodFacts, ServiceFacts } from "./backend";

const SERVICE: ServiceFacts = { spec: { selector: { app: "db" }, ports: [{ port: 5432, targetPort: "postgresql" }] } };

/** An API timestamp `minutes` after the tests' clock started. */
const at = (minutes: number) => new Date(STARTED_AT + minutes * MINUTE).toISOString();

function pod(name: string, created: string, options: { ready?: boolean; deleting?: boolean } = {}): PodFacts {
    return {
        metadata: { name, creationTimestamp: created, deletionTimestamp: options.deleting ? at(10) : undefined },
        spec: { containers: [{ ports: [{ name: "postgresql", containerPort: 5432 }] }, { ports: [{ name: "metrics", containerPort: 9187 }] }] },
        status: { conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }] },
    };
}

describe("the tunnel's choice of pod for a new connection", () => {
    const choose = (service: ServiceFacts | undefined, pods: PodFacts[]): Backend => chooseBackend("workshop/postgres", service, pods);

    it("goes to the Ready pod the Service selects, on the container port its target port names", () => {
        assert.deepStrictEqual(choose(SERVICE, [pod("db-1", at(0))]), { kind: "pod", pod: "db-1", port: 5432 });
        const numbered = { spec: { selector: { app: "db" }, ports: [{ port: 15432, targetPort: 6432 }] } };
        assert.deepStrictEqual(choose(numbered, [pod("db-1", at(0))]), { kind: "pod", pod: "db-1", port: 6432 });
    });

    it("follows a replacement: never a pod being deleted or not Ready, and the newest of two Ready ones", () => {
        const old = pod("db-old", at(0), { deleting: true });
        assert.deepStrictEqual(choose(SERVICE, [old, pod("db-new", at(1))]), { kind: "pod", pod: "db-new", port: 5432 });
        assert.deepStrictEqual(choose(SERVICE, [pod("db-new", at(1), { ready: false }), pod("db-old", at(0))]),
            { kind: "pod", pod: "db-old", port: 5432 });
        assert.deepStrictEqual(choose(SERVICE, [pod("db-a", at(0)), pod("db-b", at(2))]), { kind: "pod", pod: "db-b", port: 5432 });
    });

    it("waits, saying why, while there is nothing to connect to (a first up, a pod starting)", () => {
        assert.deepStrictEqual(choose(undefined, []), { kind: "wait", reason: "Service workshop/postgres does not exist yet" });
        assert.deepStrictEqual(choose(SERVICE, []), { kind: "wait", reason: "Service workshop/postgres selects no pod (app=db)" });
        assert.deepStrictEqual(choose(SERVICE, [pod("db-1", at(0), { ready: false })]),
            { kind: "wait", reason: "Service workshop/postgres selects 1 pod(s), none Ready (app=db)" });
        assert.deepStrictEqual(choose({ spec: { selector: { app: "db" }, ports: [{ port: 5432, targetPort: "pg" }] } }, [pod("db-1", at(0))]),
            { kind: "wait", reason: "pod db-1 has no port named pg" });
    });
});

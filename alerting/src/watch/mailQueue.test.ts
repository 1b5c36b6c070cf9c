import * as assert from "assert";
import type { Mail } from "./mail";
import { MailQueue } from "./mailQueue";

const mail = (reason: string): Mail => ({ about: "watcher", decision: { kind: "not-working", reason, since: 0, notes: [] } });

describe("the watcher's mail queue", () => {
    it("sends one mail after another in the order decided, handed-over mails first, and saves after each change", async () => {
        const sent: string[] = [];
        const saved: string[][] = [];
        let release: () => void = () => undefined;
        const first = new Promise<void>((resolve) => { release = resolve; });
        const queue = new MailQueue([mail("handed over")], async (m) => {
            sent.push(m.decision.reason);
            if (sent.length === 1) {
                await first;
            }
        }, () => saved.push(queue.pending.map((m) => m.decision.reason)));
        queue.pump();
        queue.enqueue(mail("a"), mail("b"));
        assert.deepStrictEqual(sent, ["handed over"], "one send at a time");
        assert.deepStrictEqual(queue.pending.map((m) => m.decision.reason), ["handed over", "a", "b"], "the mail in flight is still pending: a stop hands it over");
        release();
        await queue.idle;
        assert.deepStrictEqual(sent, ["handed over", "a", "b"]);
        assert.deepStrictEqual(saved, [["handed over", "a", "b"], ["a", "b"], ["b"], []]);
    });
});

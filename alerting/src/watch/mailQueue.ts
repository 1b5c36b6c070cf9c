/**
 * The watcher's outgoing mails: sent one after another in the order decided. A mail leaves the
 * queue once it is done (sent, or failed for good), and every change is saved, so that a restarted
 * container sends what its predecessor could not.
 */
import type { Mail } from "./mail";

export class MailQueue {
    private readonly queue: Mail[];
    private sending: Promise<void> | undefined;

    /** `pending`: handed over by a previous container; `changed`: saves the queue with the rest of the state. */
    constructor(pending: readonly Mail[], private readonly send: (mail: Mail) => Promise<void>, private readonly changed: () => void) {
        this.queue = [...pending];
    }

    /** What is not sent yet, the mail in flight included. */
    get pending(): readonly Mail[] {
        return this.queue;
    }

    /** Resolves once the mail in flight, if any, and what is queued behind it are done. */
    get idle(): Promise<void> {
        return this.sending ?? Promise.resolve();
    }

    enqueue(...mails: Mail[]): void {
        this.queue.push(...mails);
        this.changed();
        this.pump();
    }

    pump(): void {
        if (this.sending !== undefined || this.queue.length === 0) {
            return;
        }
        this.sending = (async () => {
            while (this.queue.length > 0) {
                await this.send(this.queue[0]);
                this.queue.shift();
                this.changed();
            }
        })().finally(() => {
            this.sending = undefined;
        });
    }
}

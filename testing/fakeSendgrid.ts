/** A stand-in for the SendGrid API on loopback: real HTTP, scripted answers, every request recorded. */
import * as http from "http";
import type { AddressInfo } from "net";

export interface ScriptedAnswer {
    readonly status: number;
    readonly headers?: Record<string, string>;
    readonly body?: unknown;
    /** Never answer (the connection stays open until the server closes). */
    readonly hang?: boolean;
    /** Answer only once `release()` is called. */
    readonly held?: boolean;
}

export interface ReceivedRequest {
    readonly method: string;
    readonly path: string;
    readonly authorization?: string;
    readonly contentType?: string;
    readonly body: any;
    /** performance.now() of this process when the request was complete. */
    readonly receivedAt: number;
}

export interface FakeSendgrid {
    /** Base URL, for SENDGRID_API_URL. */
    readonly url: string;
    readonly requests: ReceivedRequest[];
    /** Resolves with the next request to arrive (or the first one not yet awaited). */
    nextRequest(): Promise<ReceivedRequest>;
    /** Answers the requests whose answer is held. */
    release(): void;
    close(): Promise<void>;
}

export const ACCEPTED: ScriptedAnswer = { status: 202 };

/** Answers in order; the last answer repeats. */
export async function startFakeSendgrid(answers: readonly ScriptedAnswer[] = [ACCEPTED]): Promise<FakeSendgrid> {
    const requests: ReceivedRequest[] = [];
    const waiters: ((request: ReceivedRequest) => void)[] = [];
    const heldAnswers: (() => void)[] = [];
    let awaited = 0;
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown = text;
            try {
                body = JSON.parse(text);
            } catch {
                // kept as text
            }
            const request: ReceivedRequest = {
                method: req.method ?? "",
                path: req.url ?? "",
                authorization: req.headers.authorization,
                contentType: req.headers["content-type"],
                body,
                receivedAt: performance.now(),
            };
            const answer = answers[Math.min(requests.length, answers.length - 1)];
            requests.push(request);
            waiters.shift()?.(request);
            if (answer.hang) {
                return;
            }
            const reply = () => {
                res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
                res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
            };
            if (answer.held) {
                heldAnswers.push(reply);
            } else {
                reply();
            }
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        nextRequest: () => {
            const index = awaited++;
            return index < requests.length ? Promise.resolve(requests[index]) : new Promise((resolve) => waiters.push(resolve));
        },
        release: () => heldAnswers.splice(0).forEach((reply) => reply()),
        close: () => new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        }),
    };
}

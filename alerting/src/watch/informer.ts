/**
 * One watch of the pod watcher: an `@kubernetes/client-node` informer on one kind of object of a
 * namespace, by labels, with its own health. A dropped watch resumes from the last resource version
 * (kept fresh by bookmarks); a 410 Gone makes it list again; any other error restarts it with backoff.
 * The informer's callbacks only schedule an observation, so those of one relist are seen together;
 * what to decide on a snapshot is the caller's.
 */
import { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch, Watch } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterSignal, classifyProblem, HealthSignal, HealthState, initialHealth, Watched } from "./health";

/** The retry backoff doubles up to this many times its first delay (1 s to 30 s). */
const MAX_RETRY_FACTOR = 30;
/** setTimeout's longest delay (about 24.8 days); a later wake-up is asked for again when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** client-node's Watch, asking for bookmarks and reporting when a watch opens, hears something and ends. */
class ReportingWatch extends Watch {
    constructor(config: KubeConfig, private readonly report: (signal: HealthSignal) => void) {
        super(config);
    }

    override async watch(path: string, query: Record<string, string | number | boolean | undefined>,
        callback: (phase: string, object: any, raw?: any) => void, done: (error: any) => void): Promise<AbortController> {
        let ended = false;
        const controller = await super.watch(path, { ...query, allowWatchBookmarks: true }, (phase, object, raw) => {
            callback(phase, object, raw);
            // After the informer's callback, so an observation it schedules still sees the time before this event.
            if (phase !== "ERROR") {
                this.report({ type: "event" });
            }
        }, (error) => {
            ended = true;
            this.report({ type: "watch-ended" });
            done(error);
        });
        if (!ended) {
            this.report({ type: "watch-opened" });
        }
        return controller;
    }
}

/** What the informer's cache holds at one moment. */
export interface Snapshot<T> {
    readonly at: number;
    readonly objects: readonly T[];
    /** Objects the API removed since the last snapshot. */
    readonly deleted: readonly T[];
    /** The watcher cannot vouch for what happened between this time and `at` (see decide.ts). */
    readonly unseenSince: number;
}

export interface WatchArgs<T extends KubernetesObject> {
    readonly watched: Watched;
    readonly kubeConfig: KubeConfig;
    readonly namespace: string;
    /** The collection's path, such as /api/v1/namespaces/<namespace>/pods. */
    readonly path: string;
    readonly selector: string;
    readonly list: () => Promise<KubernetesListObject<T>>;
    /** First delay of the retry backoff. */
    readonly retryMs: number;
    readonly startedAt: number;
    /** Until when the cache this one replaces was known to match the API: what a snapshot may call news. */
    readonly sureUntil: number;
    /** Decides on a snapshot; returns when to look again even if nothing changes, if ever. */
    readonly observe: (snapshot: Snapshot<T>) => number | undefined;
    /**
     * Whether a wake-up looks at the cache while the last attempt to watch failed. For the backup
     * Jobs it does not: a success may have been missed, and the relist after the failure looks anyway.
     */
    readonly wakeWhileFailing: boolean;
    /** Told after every change of this watch's health. */
    readonly healthChanged: (at: number) => void;
    readonly log: (event: string, fields: Record<string, unknown>) => void;
}

export class WatchedCollection<T extends KubernetesObject> {
    health: HealthState;
    /** Until when the cache is known to have matched the API. */
    sureUntil: number;
    private readonly informer: ListWatch<T>;
    private stopped = false;
    private scheduled?: { unseenSince: number };
    private readonly deleted: T[] = [];
    private wakeUp?: NodeJS.Timeout;
    private retry?: NodeJS.Timeout;
    private retryMs: number;

    constructor(private readonly args: WatchArgs<T>) {
        this.health = initialHealth(args.startedAt);
        this.sureUntil = args.sureUntil;
        this.retryMs = args.retryMs;
        this.informer = new ListWatch<T>(args.path, new ReportingWatch(args.kubeConfig, (news) => this.signal(news)), async () => {
            const list = await args.list();
            this.signal({ type: "listed" });
            // One observation after every list, even one that changed nothing or holds no object.
            this.scheduleObservation();
            return list;
        }, false, args.selector, undefined, { delayFn: (ms) => sleep(ms * args.retryMs / 1000) });
        this.informer.on("add", () => this.scheduleObservation());
        this.informer.on("update", () => this.scheduleObservation());
        this.informer.on("delete", (object) => {
            this.deleted.push(object);
            this.scheduleObservation();
        });
        this.informer.on("connect", () => args.log("connecting", { watch: args.watched, namespace: args.namespace, selector: args.selector }));
        // The informer resumes by itself after a dropped watch or a 410 Gone; other errors stop it, so restart it with backoff.
        this.informer.on("error", (error: unknown) => {
            if (this.stopped) {
                // The abort of our own stop.
                return;
            }
            const problem = classifyProblem(error);
            this.signal({ type: "failed", problem });
            args.log("watch-error", { watch: args.watched, ...problem, failuresInARow: this.health.failuresInARow, retryInMs: this.retryMs });
            this.retry = setTimeout(() => void this.informer.start(), this.retryMs);
            this.retryMs = Math.min(this.retryMs * 2, args.retryMs * MAX_RETRY_FACTOR);
        });
    }

    start(): Promise<void> {
        return this.informer.start();
    }

    /** No more events, retries or observations. */
    stop(): void {
        this.stopped = true;
        clearTimeout(this.wakeUp);
        clearTimeout(this.retry);
        void this.informer.stop();
    }

    private signal(news: HealthSignal): void {
        const at = Date.now();
        this.health = afterSignal(this.health, news, at);
        if (news.type === "listed" || news.type === "watch-opened") {
            this.retryMs = this.args.retryMs;
        }
        // The cache matches the API now, unless an observation of changes is still to come.
        if ((news.type === "watch-opened" || news.type === "event") && this.scheduled === undefined) {
            this.sureUntil = at;
        }
        this.args.healthChanged(at);
    }

    // The callbacks of one relist (deletions first, then additions) arrive in one go: one observation sees them together.
    private scheduleObservation(): void {
        if (!this.stopped && this.scheduled === undefined) {
            this.scheduled = { unseenSince: this.sureUntil };
            setImmediate(() => this.observe());
        }
    }

    private wake(): void {
        if (this.args.wakeWhileFailing || this.health.failuresInARow === 0) {
            this.scheduleObservation();
        }
    }

    private observe(): void {
        const unseenSince = this.scheduled?.unseenSince ?? this.sureUntil;
        this.scheduled = undefined;
        if (this.stopped) {
            return;
        }
        const at = Date.now();
        if (this.health.watching) {
            this.sureUntil = at;
        }
        const next = this.args.observe({ at, objects: this.informer.list(this.args.namespace), deleted: this.deleted.splice(0), unseenSince });
        clearTimeout(this.wakeUp);
        this.wakeUp = next === undefined ? undefined : setTimeout(() => this.wake(), Math.min(MAX_TIMER_MS, Math.max(0, next - at)));
    }
}

/** What the real-node steps of `npm run test:e2e` (./stops.ts, ./faults.ts) are given by the run. */
import type { Connection } from "../../schema/migrationRunner";
import type { FakeSendgrid } from "../../testing/fakeSendgrid";
import type { KubeApi } from "../kubeApi";

export interface StepContext {
    readonly api: () => KubeApi;
    /** kubectl against the run's cluster, resolving with its stdout. */
    readonly kubectl: (...args: string[]) => Promise<string>;
    /** kubectl's path and the kubeconfig, for the steps that follow a log as it is written. */
    readonly kubectlPath: string;
    readonly kubeconfig: string;
    readonly namespace: string;
    /** The fake SendGrid the stack's mailer and watcher send to. */
    readonly mail: FakeSendgrid;
    /** The superuser's connection to the database, through the tunnel. */
    readonly superuser: () => Connection;
    /** Prints a measured figure and keeps it for the run's summary. */
    readonly figure: (text: string) => void;
    /** The run's logs. */
    readonly logDir: string;
}

export const POSTGRES_SELECTOR = "app.kubernetes.io/name=postgresql";

export const isReady = (pod: any): boolean => pod.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True");

/** The pods of the stack's namespace that a label selector selects. */
export async function podsOf(ctx: StepContext, selector: string): Promise<any[]> {
    return (await ctx.api().get(`/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
}

export function postgresPods(ctx: StepContext): Promise<any[]> {
    return podsOf(ctx, POSTGRES_SELECTOR);
}

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { adoptionProblem, OWNER_ANNOTATION, RetainedObject } from "../kube/adoption";
import { ClusterReader, clusterReader, ClusterTarget, loadBalancerAddress } from "../kube/clusterReader";
import { DatabaseRoute, TUNNEL_HOST } from "../config/route";
import { databaseEndpoint, Endpoint } from "../kube/endpoint";
import {
    commonLabels, CONTAINER_NAME, podLabels, PORT_NAME, POSTGRES_PORT, postgresPodSpec, settingsData,
} from "./postgresSpec";
import { readWriteOnceClaim } from "../kube/pod";
import { refusal } from "../kube/refusal";
import { ComputeResources, DEFAULTS, ServiceType } from "../config/settings";
import { AlertMailer, AlertMailerArgs } from "../alerts/alertMailer";
import { serverNames } from "../tls/certificates";
import { ServerCertificate, StackCa } from "../tls/stackCertificates";
import { CLIENT_CA, CLIENT_HOST, HBA_FILE, PG_HBA, ServerTlsObjects, TLS_CERT, TLS_KEY } from "./tlsSpec";

export interface PostgresInstanceArgs {
    /** Namespace to deploy into. */
    readonly namespace: string;
    /** Create the namespace (default true); false uses an existing one. */
    readonly createNamespace?: boolean;
    /** Superuser name (default "postgres"). */
    readonly dbUser?: string;
    /** Superuser password, kept as a Pulumi secret and stored only in a Kubernetes Secret. */
    readonly dbPassword: pulumi.Input<string>;
    /** Database the image creates on first start. */
    readonly dbName: string;
    /** Official postgres image with a pinned tag. */
    readonly image: string;
    /** PVC size (default "1Gi"). */
    readonly storageSize?: string;
    /** StorageClass (default: the cluster's default class). */
    readonly storageClass?: string;
    /** Service type (default "ClusterIP"). */
    readonly serviceType?: ServiceType;
    /** Fixed NodePort for NodePort and LoadBalancer Services (default: chosen by Kubernetes). */
    readonly nodePort?: number;
    readonly resources: ComputeResources;
    /** CIDRs allowed to reach port 5432 (default none). */
    readonly allowedCidrs?: readonly string[];
    /** Other namespaces whose pods may reach port 5432 (default none; the own namespace is always allowed). */
    readonly allowedNamespaces?: readonly string[];
    /** Let `pulumi destroy` delete the namespace and the PVC (default false: they are retained). */
    readonly allowDataDeletion?: boolean;
    /** The cluster, as the stack's `kubernetes:*` config names it (default: the current kube context). */
    readonly cluster?: ClusterTarget;
    /** Mail an alert when the pod stops (default: no alert sidecar). */
    readonly alerting?: Omit<AlertMailerArgs, "namespace" | "service" | "database" | "labels">;
    /** TLS with a certificate of the stack's CA, and no TCP connection without it (default: a server without TLS). */
    readonly tls?: {
        readonly ca: StackCa;
        /** A name the deploying machine reaches the server by besides the tunnel's (dbHost). */
        readonly extraHost?: string;
    };
}

/** Objects that `pulumi destroy` keeps and the next `pulumi up` must take over again. */
export interface Retention {
    /** A Kubernetes provider that updates an existing object on create (upsertExistingObjects). */
    readonly provider: k8s.Provider;
    /** Marks an object as this stack's, so that only this stack takes it over. */
    readonly annotations: Record<string, string>;
    /** The claim's name once the cluster shows that this stack may take it over; fails before any change otherwise. */
    claimName(namespace: pulumi.Input<string>, claim: string): pulumi.Output<string>;
}

function stackOwner(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** The object's name, or a refusal of `component` (before anything changes) when another stack or person created it. */
function adoptable(component: pulumi.Resource, cluster: ClusterTarget, object: RetainedObject,
    annotations: (reader: ClusterReader) => Promise<Record<string, string> | undefined>): pulumi.Output<string> {
    return pulumi.output(clusterReader(cluster).then(annotations).then((found) => {
        const problem = adoptionProblem(object, found, stackOwner());
        if (problem) {
            throw refusal(problem, component);
        }
        return object.id.split("/").pop() as string;
    }));
}

/** One PostgreSQL server on a persistent volume: namespace, settings, Secret, PVC, Deployment, Service, NetworkPolicy. */
export class PostgresInstance extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly serviceName: pulumi.Output<string>;
    /** In-cluster DNS name of the Service. */
    public readonly host: pulumi.Output<string>;
    public readonly port: number = POSTGRES_PORT;
    public readonly database: string;
    public readonly user: string;
    /** In-cluster connection string; secret because it carries the password. */
    public readonly connectionString: pulumi.Output<string>;
    /** Labels of the PostgreSQL pod, for selectors elsewhere. */
    public readonly podLabels: Record<string, string>;
    /** The PostgreSQL container of those pods. */
    public readonly containerName = CONTAINER_NAME;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly service: k8s.core.v1.Service;
    public readonly dataClaim: k8s.core.v1.PersistentVolumeClaim;
    /** Name of the Secret that holds the superuser's password (key `password`). */
    public readonly credentialsSecretName: pulumi.Output<string>;
    /** The mailer, when alerting is configured; the pod watcher reuses its settings and bundle. */
    public readonly alertMailer?: AlertMailer;
    /** How claims that destroy keeps are created, so the next up takes them over again (the backup's too). */
    public readonly retention: Retention;
    /** With TLS: the ConfigMap in-cluster clients verify the server with (keys `ca.crt` and `host`). */
    public readonly clientCaConfigMap?: pulumi.Output<string>;
    private readonly serviceType: ServiceType;
    private readonly cluster: ClusterTarget;

    constructor(name: string, args: PostgresInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("workshop:database:PostgresInstance", name, {}, opts);

        const createNamespace = args.createNamespace ?? true;
        const dbUser = args.dbUser ?? DEFAULTS.dbUser;
        const storageSize = args.storageSize ?? DEFAULTS.storageSize;
        const serviceType = args.serviceType ?? DEFAULTS.serviceType;
        this.serviceType = serviceType;
        const allowedCidrs = args.allowedCidrs ?? [];
        const allowedNamespaces = args.allowedNamespaces ?? [];
        const retainData = !(args.allowDataDeletion ?? false);
        this.cluster = args.cluster ?? {};
        const claimName = `${name}-data`;
        // Destroy keeps the namespace and the claims; the next up finds them in the cluster and must
        // take them over again, which the Kubernetes provider does only when told to (upsertExistingObjects).
        this.retention = {
            provider: new k8s.Provider(`${name}-retained`, { ...this.cluster, upsertExistingObjects: true }, { parent: this }),
            annotations: { [OWNER_ANNOTATION]: stackOwner() },
            claimName: (namespace, claim) => pulumi.output(namespace).apply((ns) => adoptable(this, this.cluster,
                { kind: "PersistentVolumeClaim", id: `${ns}/${claim}`, alternative: "Choose another namespace, delete the claim if its data is not needed" },
                (reader) => reader.claimAnnotations(ns, claim))),
        };

        const labels = commonLabels(name);
        this.podLabels = podLabels(name);
        this.database = args.dbName;
        this.user = dbUser;

        this.namespace = createNamespace
            ? new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: {
                    name: adoptable(this, this.cluster,
                        { kind: "Namespace", id: args.namespace, alternative: "Deploy into it with createNamespace false, choose another namespace" },
                        (reader) => reader.namespaceAnnotations(args.namespace)),
                    labels: { ...labels, "pod-security.kubernetes.io/enforce": "restricted" },
                    annotations: this.retention.annotations,
                },
            // Deleting a namespace deletes its PVCs, so a retained volume keeps its namespace too.
            }, { parent: this, retainOnDelete: retainData, provider: this.retention.provider }).metadata.name
            : pulumi.output(args.namespace);
        const namespace = this.namespace;

        // Auto-named: a changed password or setting makes a new object and so rolls the pod.
        const credentials = new k8s.core.v1.Secret(`${name}-credentials`, {
            metadata: { namespace, labels },
            type: "Opaque",
            stringData: { password: args.dbPassword },
        }, { parent: this });
        this.credentialsSecretName = credentials.metadata.name;

        const settings = new k8s.core.v1.ConfigMap(`${name}-settings`, {
            metadata: { namespace, labels },
            data: settingsData(dbUser, args.dbName),
        }, { parent: this });

        this.dataClaim = new k8s.core.v1.PersistentVolumeClaim(claimName, {
            metadata: {
                name: this.retention.claimName(namespace, claimName),
                namespace,
                labels,
                annotations: {
                    ...this.retention.annotations,
                    // With WaitForFirstConsumer classes the claim binds only once the pod exists.
                    "pulumi.com/skipAwait": "true",
                },
            },
            spec: readWriteOnceClaim(storageSize, args.storageClass),
        }, { parent: this, retainOnDelete: retainData, provider: this.retention.provider });

        const tls = args.tls && this.serverTls(name, namespace, labels, args.tls.ca, args.tls.extraHost);

        this.alertMailer = args.alerting && new AlertMailer(`${name}-alert`, {
            ...args.alerting,
            namespace,
            service: name,
            database: args.dbName,
            labels,
        }, { parent: this });

        this.deployment = new k8s.apps.v1.Deployment(name, {
            metadata: { name, namespace, labels },
            spec: {
                replicas: 1,
                // Two postmasters must never share the volume: stop the old pod before starting the new one.
                strategy: { type: "Recreate" },
                revisionHistoryLimit: 3,
                selector: { matchLabels: this.podLabels },
                template: {
                    metadata: { labels },
                    spec: postgresPodSpec({
                        instance: name,
                        image: args.image,
                        resources: args.resources,
                        settingsConfigMap: settings.metadata.name,
                        credentialsSecret: credentials.metadata.name,
                        dataClaim: this.dataClaim.metadata.name,
                        extension: this.alertMailer?.podExtension,
                        tls,
                    }),
                },
            },
        }, { parent: this });

        this.service = new k8s.core.v1.Service(name, {
            metadata: {
                name,
                namespace,
                labels,
                // The provider would wait 10 minutes for an address that may never come; endpointFor waits, bounded.
                annotations: serviceType === "LoadBalancer" ? { "pulumi.com/skipAwait": "true" } : undefined,
            },
            spec: {
                type: serviceType,
                ...(serviceType === "LoadBalancer" ? {
                    loadBalancerSourceRanges: [...allowedCidrs],
                    // Keeps the client's address, so that the NetworkPolicy's ipBlocks (the same CIDRs) see who connects, not a node.
                    externalTrafficPolicy: "Local",
                } : {}),
                selector: this.podLabels,
                ports: [{
                    name: PORT_NAME,
                    port: POSTGRES_PORT,
                    targetPort: PORT_NAME,
                    protocol: "TCP",
                    nodePort: serviceType === "ClusterIP" ? undefined : args.nodePort,
                }],
            },
        }, { parent: this });

        new k8s.networking.v1.NetworkPolicy(`${name}-ingress`, {
            metadata: { name: `${name}-ingress`, namespace, labels },
            spec: {
                podSelector: { matchLabels: this.podLabels },
                policyTypes: ["Ingress"],
                ingress: [{
                    from: [
                        // Every pod of the stack's own namespace.
                        { podSelector: {} },
                        ...allowedNamespaces.map((ns) => ({
                            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
                        })),
                        ...allowedCidrs.map((cidr) => ({ ipBlock: { cidr } })),
                    ],
                    ports: [{ port: POSTGRES_PORT, protocol: "TCP" }],
                }],
            },
        }, { parent: this });

        this.serviceName = this.service.metadata.name;
        this.host = pulumi.interpolate`${this.serviceName}.${namespace}.svc.cluster.local`;
        this.connectionString = pulumi.secret(pulumi.interpolate`postgresql://${dbUser}:${pulumi.output(args.dbPassword).apply(encodeURIComponent)}@${this.host}:${POSTGRES_PORT}/${args.dbName}`);

        // A fixed name, for clients to mount; the server's name to verify is the one the stack's outputs give as host.
        this.clientCaConfigMap = args.tls && new k8s.core.v1.ConfigMap(`${name}-ca`, {
            metadata: { name: `${name}-ca`, namespace, labels },
            data: { [CLIENT_CA]: args.tls.ca.certificate, [CLIENT_HOST]: this.host },
        }, { parent: this }).metadata.name;

        this.registerOutputs({
            namespace: this.namespace,
            serviceName: this.serviceName,
            host: this.host,
            port: this.port,
            database: this.database,
            user: this.user,
            connectionString: this.connectionString,
        });
    }

    /** The server's certificate, in a Secret, and its pg_hba.conf; both auto-named, so that a new one rolls the pod. */
    private serverTls(name: string, namespace: pulumi.Output<string>, labels: Record<string, string>, ca: StackCa, extraHost?: string): ServerTlsObjects {
        const certificate = new ServerCertificate(`${name}-server-certificate`, {
            ca,
            names: namespace.apply((ns) => serverNames(name, ns, extraHost)),
        }, { parent: this });
        const secret = new k8s.core.v1.Secret(`${name}-tls`, {
            metadata: { namespace, labels },
            type: "kubernetes.io/tls",
            stringData: { [TLS_CERT]: certificate.certificate, [TLS_KEY]: certificate.privateKey },
        }, { parent: this });
        const hba = new k8s.core.v1.ConfigMap(`${name}-hba`, {
            metadata: { namespace, labels },
            data: { [HBA_FILE]: PG_HBA },
        }, { parent: this });
        return { secret: secret.metadata.name, hbaConfigMap: hba.metadata.name };
    }

    /**
     * Where the deploying machine reaches PostgreSQL on `route`: the tunnel's fixed local end, the
     * address the user gives, or a LoadBalancer's address read from the cluster (waiting while a
     * controller works on it). The tunnel's end is known at preview, so the provider's settings never change.
     */
    public endpointFor(route: DatabaseRoute): pulumi.Output<Endpoint> {
        if (route.via === "tunnel") {
            return pulumi.output({ host: TUNNEL_HOST, port: route.port });
        }
        const endpoint = pulumi.all([this.service.metadata, this.service.spec]).apply(async ([metadata, spec]) => {
            const found = route.via === "loadBalancer"
                ? await loadBalancerAddress(await clusterReader(this.cluster), { namespace: metadata.namespace, name: metadata.name }, pulumi.runtime.isDryRun())
                : undefined;
            if (found?.kind === "fail") {
                throw refusal(found.message, this);
            }
            if (found?.kind === "unknown") {
                return undefined;
            }
            return databaseEndpoint({ host: route.via === "address" ? route.host : undefined, port: route.port }, {
                type: this.serviceType,
                port: this.port,
                nodePort: spec.ports[0]?.nodePort,
                ingress: found && [{ ip: found.host }],
            });
        });
        // A preview that cannot know the address yet shows it as unknown, like any value only an update makes.
        return endpoint.apply((known) => known === undefined ? pulumi.output(pulumi.unknown) as unknown as pulumi.Output<Endpoint> : pulumi.output(known));
    }
}

import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { databaseEndpoint, Endpoint, EndpointOverride } from "../lib/endpoint";
import {
    commonLabels, podLabels, PORT_NAME, POSTGRES_PORT, postgresPodSpec, readWriteOnceClaim, settingsData,
} from "../lib/postgresSpec";
import { ComputeResources, DEFAULTS, ServiceType } from "../lib/settings";
import { AlertMailer, AlertMailerArgs } from "./alertMailer";

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
    /** Mail an alert when the pod stops (default: no alert sidecar). */
    readonly alerting?: Omit<AlertMailerArgs, "namespace" | "service" | "database" | "labels">;
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
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly service: k8s.core.v1.Service;
    public readonly dataClaim: k8s.core.v1.PersistentVolumeClaim;
    /** Name of the Secret that holds the superuser's password (key `password`). */
    public readonly credentialsSecretName: pulumi.Output<string>;
    /** The mailer, when alerting is configured; the pod watcher reuses its settings and bundle. */
    public readonly alertMailer?: AlertMailer;
    private readonly serviceType: ServiceType;

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

        const labels = commonLabels(name);
        this.podLabels = podLabels(name);
        this.database = args.dbName;
        this.user = dbUser;

        this.namespace = createNamespace
            ? new k8s.core.v1.Namespace(`${name}-namespace`, {
                metadata: {
                    name: args.namespace,
                    labels: { ...labels, "pod-security.kubernetes.io/enforce": "restricted" },
                },
            // Deleting a namespace deletes its PVCs, so a retained volume keeps its namespace too.
            }, { parent: this, retainOnDelete: retainData }).metadata.name
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

        this.dataClaim = new k8s.core.v1.PersistentVolumeClaim(`${name}-data`, {
            metadata: {
                name: `${name}-data`,
                namespace,
                labels,
                // With WaitForFirstConsumer classes the claim binds only once the pod exists.
                annotations: { "pulumi.com/skipAwait": "true" },
            },
            spec: readWriteOnceClaim(storageSize, args.storageClass),
        }, { parent: this, retainOnDelete: retainData });

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
                    }),
                },
            },
        }, { parent: this });

        this.service = new k8s.core.v1.Service(name, {
            metadata: { name, namespace, labels },
            spec: {
                type: serviceType,
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

    /** Where a machine outside the cluster reaches PostgreSQL: `override` when set, else what the Service exposes. */
    public endpointFor(override: EndpointOverride): pulumi.Output<Endpoint> {
        return pulumi.all([this.service.spec, this.service.status]).apply(([spec, status]) => databaseEndpoint(override, {
            type: this.serviceType,
            port: this.port,
            nodePort: spec.ports[0]?.nodePort,
            ingress: status?.loadBalancer?.ingress,
        }));
    }
}

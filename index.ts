import * as pulumi from "@pulumi/pulumi";
import { PostgresInstance } from "./components/postgresInstance";
import { databaseEndpoint } from "./lib/endpoint";
import { parseSettings } from "./lib/settings";

const config = new pulumi.Config();
const settings = parseSettings({
    get: (key) => config.get(key),
    hasSecret: (key) => config.getSecret(key) !== undefined,
});

const postgres = new PostgresInstance("postgres", {
    namespace: settings.namespace,
    createNamespace: settings.createNamespace,
    dbUser: settings.dbUser,
    dbPassword: config.requireSecret("dbPassword"),
    dbName: settings.dbName,
    image: settings.image,
    storageSize: settings.storageSize,
    storageClass: settings.storageClass,
    serviceType: settings.serviceType,
    nodePort: settings.nodePort,
    resources: settings.resources,
    allowedCidrs: settings.allowedCidrs,
    allowedNamespaces: settings.allowedNamespaces,
    allowDataDeletion: settings.allowDataDeletion,
});

export const namespace = postgres.namespace;
export const serviceName = postgres.serviceName;
export const host = postgres.host;
export const port = postgres.port;
export const database = postgres.database;
export const user = postgres.user;
export const connectionString = postgres.connectionString;

const endpoint = postgres.service.spec.apply((spec) => pulumi.output(postgres.service.status).apply((status) => databaseEndpoint(settings.schema, {
    type: settings.serviceType,
    port: postgres.port,
    nodePort: spec.ports[0]?.nodePort,
    ingress: status?.loadBalancer?.ingress,
})));
export const externalHost = endpoint.host;
export const externalPort = endpoint.port;

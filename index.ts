import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { Backup } from "./backup/backup";
import { PodWatcher } from "./alerts/podWatcher";
import { PostgresInstance } from "./database/postgresInstance";
import { WorkshopSchema } from "./schema/workshopSchema";
import { alertDelivery as deliveryOf } from "./config/alerts";
import { pulumiConfigSource, sendgridApiKey } from "./config/pulumiSource";
import { ConfigError, parseSettings, tlsWarning } from "./config/settings";
import { DATABASE_SERVICE } from "./config/route";
import { clusterLocality } from "./kube/localCluster";
import { refusing } from "./kube/refusal";
import { readSqlFiles } from "./schema/sqlFiles";
import { MigrationPlanError } from "./schema/sqlPlan";
import { StackCa } from "./tls/stackCertificates";

const config = new pulumi.Config();
// The explicit Kubernetes provider and the program's own cluster reads use the cluster the default provider uses.
const kubernetesConfig = new pulumi.Config("kubernetes");
const cluster = {
    kubeconfig: kubernetesConfig.get("kubeconfig"),
    context: kubernetesConfig.get("context"),
    cluster: kubernetesConfig.get("cluster"),
};
const settings = refusing(() => parseSettings(pulumiConfigSource(), { cluster: () => clusterLocality(cluster) }), ConfigError);
const delivery = deliveryOf(settings.alert, settings.exposure);
if (delivery.warning) {
    pulumi.log.warn(delivery.warning);
}
const tlsNotice = tlsWarning(settings.tls);
if (tlsNotice) {
    pulumi.log.warn(tlsNotice);
}
const sqlFiles = refusing(() => readSqlFiles(path.join(__dirname, "sql")), MigrationPlanError);
const dbPassword = config.requireSecret("dbPassword");

// Created once and kept: every certificate the server presents is signed by it (docs/tls.md).
const ca = settings.tls.enabled ? new StackCa("stack-ca", { commonName: `${pulumi.getProject()} ${pulumi.getStack()} CA` }) : undefined;

const postgres = new PostgresInstance(DATABASE_SERVICE, {
    namespace: settings.namespace,
    createNamespace: settings.createNamespace,
    dbUser: settings.dbUser,
    dbPassword,
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
    cluster,
    alerting: {
        to: settings.alert.to,
        from: settings.alert.from,
        subjectPrefix: settings.alert.subjectPrefix,
        deadlineSeconds: settings.alert.deadlineSeconds,
        sendgridApiKey: sendgridApiKey(settings.alert),
        image: settings.alert.image,
    },
    tls: ca && { ca, extraHost: settings.schema.route.via === "address" ? settings.schema.route.host : undefined },
});

const endpoint = postgres.endpointFor(settings.schema.route);

const schema = new WorkshopSchema("workshop", {
    endpoint,
    sslMode: settings.tls.sslMode,
    caCertificate: ca?.certificate,
    superuser: settings.dbUser,
    superuserPassword: dbPassword,
    database: settings.dbName,
    schemaName: settings.schema.schemaName,
    appUser: settings.schema.appUser,
    appPassword: config.requireSecret("appPassword"),
    files: sqlFiles,
    allowDataDeletion: settings.allowDataDeletion,
    readyAfter: [postgres.deployment, postgres.service],
});

const backup = settings.backup.enabled ? new Backup("postgres-backup", {
    namespace: postgres.namespace,
    host: postgres.host,
    database: settings.dbName,
    image: settings.image,
    provider: schema.provider,
    user: settings.backup.user,
    password: config.requireSecret("backupPassword"),
    schedule: settings.backup.schedule,
    keep: settings.backup.keep,
    storageSize: settings.backup.storageSize,
    storageClass: settings.backup.storageClass,
    scratchSize: settings.storageSize,
    allowDataDeletion: settings.allowDataDeletion,
    superuser: settings.dbUser,
    superuserSecret: postgres.credentialsSecretName,
    retention: postgres.retention,
    caConfigMap: postgres.clientCaConfigMap,
}) : undefined;

if (settings.watcher.enabled && postgres.alertMailer) {
    new PodWatcher("pod-watcher", {
        namespace: postgres.namespace,
        podLabels: postgres.podLabels,
        postgresContainer: postgres.containerName,
        mailer: postgres.alertMailer,
        notReadySeconds: settings.watcher.notReadySeconds,
        // Its selector and interval only: no dependency, so the watcher is deployed even if the database never becomes ready.
        backups: backup,
    });
}

export const namespace = postgres.namespace;
export const serviceName = postgres.serviceName;
export const host = postgres.host;
export const port = postgres.port;
export const database = postgres.database;
export const user = postgres.user;
export const connectionString = postgres.connectionString;
export const externalHost = endpoint.host;
export const externalPort = endpoint.port;
export const schemaName = schema.schemaName;
export const appUser = schema.appUser;
export const sqlFilesApplied = schema.recordedFiles;
export const backupCronJob = backup?.cronJobName;
export const backupClaim = backup?.claimName;
export const backupRestore = backup?.restoreTarget;
export const alertDelivery = delivery.summary;
/** Public: what scripts/pulumi.sh writes to tls/caFile.ts's path before the commands that do not run the program. */
export const caCertificate = ca?.certificate;

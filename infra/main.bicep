// renderfarm on Azure: the API and the events and webhook consumers (Functions, Flex
// Consumption), one chunk queue and one pool of Blender workers per Blender version (Service Bus,
// Container Apps scaled by KEDA), the job-events and webhook-deliveries queues, Blob Storage,
// Key Vault, monitoring. This file only composes modules/; each module holds one concern.

targetScope = 'resourceGroup'

@description('Short name of this farm; with the resource group it seeds every resource name.')
@minLength(1)
@maxLength(24)
param environmentName string = 'renderfarm'

@description('Region for everything; it must offer Flex Consumption and Container Apps.')
param location string = resourceGroup().location

@description('Blender versions (major.minor) the farm runs, one worker pool each; equal to containerapp_worker/blender-pools/*.txt (tests/infra checks it).')
@minLength(1)
param blenderVersions array = [
  '5.3'
  '4.5'
]

@description('Worker image tag; each pool runs <registry>/renderfarm-worker:<tag>-blender-<version>. Empty: a public placeholder until deploy.sh has built the images.')
param workerImageTag string = ''

@description('Object id of whoever runs deploy.sh, given Key Vault Secrets Officer to store the first API key; empty: nobody.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

// --- Worker ---

@description('Run the worker as a Container Apps Job (one message per execution) instead of a Container App that keeps Blender loaded between messages.')
param useContainerAppsJob bool = false

@description('vCPUs per worker replica, as a string (Container Apps accepts 0.25 to 4 on Consumption).')
param workerCpu string = '2'

@description('Memory per worker replica; on Consumption it must be twice the vCPUs in Gi.')
param workerMemory string = '4Gi'

// --- GPU workers (off by default) ---

@description('Add a serverless GPU workload profile and, per Blender version, a GPU worker app serving its own queues (render-chunks-<version>-gpu[-high|-low]); the API then accepts render.device GPU. The region must offer Container Apps serverless GPUs.')
param deployGpuWorkers bool = false

@description('The serverless GPU profile: NVIDIA T4 or A100 (Container Apps serverless GPUs).')
@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
])
param gpuWorkloadProfileType string = 'Consumption-GPU-NC8as-T4'

@description('GPU replicas per Blender version at most (GPU quota is granted per subscription).')
@minValue(1)
@maxValue(100)
param gpuMaxReplicas int = 2

// KEDA's parameters: defaults equal infra/scaling.json, which the local autoscaler reads too.
@minValue(0)
param workerMinReplicas int = 0

@minValue(1)
@maxValue(1000)
param workerMaxReplicas int = 10

@description('Messages per replica: one, since each worker renders one chunk at a time for minutes.')
@minValue(1)
param workerMessageCount int = 1

@minValue(0)
param workerActivationMessageCount int = 0

@description('Seconds between two reads of the queue depth by KEDA.')
@minValue(1)
param workerPollingInterval int = 5

@description('Seconds after the last message before the worker scales back to zero.')
@minValue(0)
param workerCooldownPeriod int = 60

// --- API ---

@allowed([512, 2048, 4096])
param functionInstanceMemoryMB int = 2048

// Flex Consumption accepts 1 to 1000 (the preview's floor of 40 is gone; see infra/README.md).
@minValue(1)
@maxValue(1000)
param functionMaximumInstanceCount int = 40

@description('Entra ID sign-in (App Service Authentication) in front of the dashboard; /api/* stays open to API-key clients. Off by default: see infra/README.md.')
param entraSignIn bool = false

@description('With entraSignIn: the application (client) ID of the dashboard\'s Entra app registration.')
param entraClientId string = ''

@description('With entraSignIn: the Key Vault secret (in the farm\'s vault) that holds that registration\'s client secret. You store it; the template only references it.')
param entraClientSecretName string = 'entra-client-secret'

// --- Data, secrets, monitoring ---

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSku string = 'Standard_LRS'

@description('Telemetry must authenticate with Entra ID (instrumentation-key ingestion refused).')
param appInsightsDisableLocalAuth bool = true

@description('E-mail address for alerts; empty: alerts show in the portal only.')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
param apiFailureRatePercent int = 5

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  app: 'renderfarm'
  environment: environmentName
}

// Names the code reads from its settings; the same defaults as renderfarm/shared/settings.py.
var queuePrefix = 'render-chunks'
var scenesContainer = 'scenes'
var jobsContainer = 'jobs'
var webhooksContainer = 'webhooks'
// The API's rate-limit counters, shared by every instance (renderfarm/keys/rate_limit.py).
var rateLimitTable = 'ratelimits'
// Tenants' running usage totals and their budgets (renderfarm/billing), in the same account: the
// workers add to the totals as chunks settle, the API reads them (the code's default names).
var usageTable = 'usage'
var budgetsTable = 'budgets'
// What the farm says happened to jobs (job.accepted .. chunk.failed), and the webhook POSTs
// those events fan out to: one queue each, beside the pool queues.
var eventsQueue = 'job-events'
var webhookDeliveriesQueue = 'webhook-deliveries'
var deploymentContainer = 'app-package'

// One pool per Blender version, and with deployGpuWorkers one GPU pool per version too: its
// queues, one per priority band, highest first ('<queuePrefix>-<major.minor>[-gpu]-high', the
// normal band's without a suffix, '...-low'), its worker app and one KEDA rule per queue. Built
// from parameters only, so every loop over it is known when the deployment starts
// (BCP178/BCP182): never loop over a module output or a resource's properties.
var cpuPools = [for version in blenderVersions: {
  blenderVersion: version
  device: 'CPU'
  queueNames: [
    '${queuePrefix}-${version}-high'
    '${queuePrefix}-${version}'
    '${queuePrefix}-${version}-low'
  ]
}]

var gpuPools = [for version in blenderVersions: {
  blenderVersion: version
  device: 'GPU'
  queueNames: [
    '${queuePrefix}-${version}-gpu-high'
    '${queuePrefix}-${version}-gpu'
    '${queuePrefix}-${version}-gpu-low'
  ]
}]

var pools = concat(cpuPools, deployGpuWorkers ? gpuPools : [])

var poolQueueLists = [for pool in pools: pool.queueNames]

var poolQueueNames = flatten(poolQueueLists)

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    tags: tags
    token: token
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    token: token
    disableLocalAuth: appInsightsDisableLocalAuth
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    token: token
    workspaceId: monitoring.outputs.workspaceId
    scenesContainer: scenesContainer
    jobsContainer: jobsContainer
    webhooksContainer: webhooksContainer
    rateLimitTable: rateLimitTable
    usageTable: usageTable
    budgetsTable: budgetsTable
    deploymentContainer: deploymentContainer
    skuName: storageSku
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    tags: tags
    token: token
    queueNames: poolQueueNames
    eventsQueueName: eventsQueue
    webhookDeliveriesQueueName: webhookDeliveriesQueue
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    token: token
    workspaceId: monitoring.outputs.workspaceId
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    tags: tags
    token: token
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    dataAccountName: storage.outputs.dataAccountName
    hostAccountName: storage.outputs.hostAccountName
    scenesContainer: scenesContainer
    jobsContainer: jobsContainer
    webhooksContainer: webhooksContainer
    rateLimitTable: rateLimitTable
    usageTable: usageTable
    budgetsTable: budgetsTable
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    queueNames: serviceBus.outputs.queueNames
    eventsQueueName: serviceBus.outputs.eventsQueueName
    webhookDeliveriesQueueName: serviceBus.outputs.webhookDeliveriesQueueName
    keyVaultName: keyVault.outputs.name
    registryName: registry.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    apiPrincipalId: identities.outputs.apiPrincipalId
    workerPrincipalId: identities.outputs.workerPrincipalId
    scalerPrincipalId: identities.outputs.scalerPrincipalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    token: token
    identityId: identities.outputs.apiId
    identityClientId: identities.outputs.apiClientId
    hostBlobEndpoint: storage.outputs.hostBlobEndpoint
    deploymentContainer: deploymentContainer
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    storageAccountUrl: storage.outputs.dataBlobEndpoint
    tableEndpoint: storage.outputs.dataTableEndpoint
    rateLimitTable: rateLimitTable
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    queuePrefix: queuePrefix
    blenderVersions: blenderVersions
    gpuWorkers: deployGpuWorkers
    workerMaxReplicas: workerMaxReplicas
    scenesContainer: scenesContainer
    jobsContainer: jobsContainer
    webhooksContainer: webhooksContainer
    eventsQueue: eventsQueue
    webhookDeliveriesQueue: webhookDeliveriesQueue
    keyVaultUrl: keyVault.outputs.uri
    instanceMemoryMB: functionInstanceMemoryMB
    maximumInstanceCount: functionMaximumInstanceCount
    entraSignIn: entraSignIn
    entraClientId: entraClientId
    entraClientSecretName: entraClientSecretName
  }
  // The host must be able to reach its storage on first start.
  dependsOn: [
    rbac
  ]
}

module workers 'modules/containerapps.bicep' = {
  name: 'containerapps'
  params: {
    location: location
    tags: tags
    token: token
    workspaceId: monitoring.outputs.workspaceId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    registryLoginServer: registry.outputs.loginServer
    workerImageTag: workerImageTag
    workerIdentityId: identities.outputs.workerId
    workerIdentityClientId: identities.outputs.workerClientId
    scalerIdentityId: identities.outputs.scalerId
    storageAccountUrl: storage.outputs.dataBlobEndpoint
    tableEndpoint: storage.outputs.dataTableEndpoint
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    pools: pools
    scenesContainer: scenesContainer
    jobsContainer: jobsContainer
    eventsQueue: eventsQueue
    useJob: useContainerAppsJob
    cpu: workerCpu
    memory: workerMemory
    minReplicas: workerMinReplicas
    maxReplicas: workerMaxReplicas
    messageCount: workerMessageCount
    activationMessageCount: workerActivationMessageCount
    pollingInterval: workerPollingInterval
    cooldownPeriod: workerCooldownPeriod
    gpuWorkloadProfileType: deployGpuWorkers ? gpuWorkloadProfileType : ''
    gpuMaxReplicas: gpuMaxReplicas
  }
  // AcrPull must exist before the first revision pulls its image, and each pool's queue before
  // KEDA reads its depth (rbac depends on the queues).
  dependsOn: [
    rbac
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    token: token
    serviceBusNamespaceId: serviceBus.outputs.namespaceId
    queueNames: serviceBus.outputs.queueNames
    eventsQueueName: serviceBus.outputs.eventsQueueName
    webhookDeliveriesQueueName: serviceBus.outputs.webhookDeliveriesQueueName
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
    apiFailureRatePercent: apiFailureRatePercent
  }
}

// Names and URLs only: never a key or a connection string.
output apiUrl string = 'https://${api.outputs.defaultHostName}/api'
output functionAppName string = api.outputs.name
// [{ blenderVersion, name }] per pool: deploy.sh points each pool at its own image.
output workerNames array = workers.outputs.workerNames
output workerKind string = workers.outputs.workerKind
output registryName string = registry.outputs.name
output registryLoginServer string = registry.outputs.loginServer
output keyVaultName string = keyVault.outputs.name
output storageAccountName string = storage.outputs.dataAccountName
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output queueNames array = serviceBus.outputs.queueNames
output eventsQueueName string = serviceBus.outputs.eventsQueueName
output webhookDeliveriesQueueName string = serviceBus.outputs.webhookDeliveriesQueueName

// The Container Apps environment and one Blender worker pool per Blender version (and, with GPU
// workers, one GPU pool per version on a serverless GPU workload profile), each scaled by KEDA's
// azure-servicebus scaler on its own three queues, one per priority band: either a Container App that keeps Blender
// loaded between messages (the default) or a Container Apps Job, one message per execution.

param location string
param tags object
param token string
param workspaceId string

@description('Application Insights connection string (monitoring module output), a parameter so that the env loop below is known when the deployment starts.')
param appInsightsConnectionString string

param registryLoginServer string

@description('Worker image tag: each pool runs <registryLoginServer>/<imageRepository>:<tag>-blender-<version>. Empty deploys a public placeholder until deploy.sh has built the images.')
param workerImageTag string

@description('Repository of the worker images in the registry (deploy.sh builds into it).')
param imageRepository string = 'renderfarm-worker'

param workerIdentityId string
param workerIdentityClientId string
param scalerIdentityId string

param storageAccountUrl string
@description('The data account\'s Table endpoint: the usage totals and budgets (renderfarm/billing).')
param tableEndpoint string
param serviceBusNamespace string
param serviceBusNamespaceName string

@description('One pool per Blender version and device, objects with blenderVersion (5.3), device (CPU or GPU) and queueNames (its three band queues, highest first: render-chunks-5.3-high, render-chunks-5.3, render-chunks-5.3-low); main.bicep builds them from parameters.')
param pools array

@description('Serverless GPU workload profile type for the GPU pools (Consumption-GPU-NC8as-T4 or Consumption-GPU-NC24-A100); empty: no GPU profile, and pools holds no GPU pool.')
param gpuWorkloadProfileType string = ''

@description('Most replicas of each GPU pool.')
param gpuMaxReplicas int = 2

param scenesContainer string
param jobsContainer string

@description('Where workers publish job.started, job.completed, job.failed, job.cancelled and chunk.failed.')
param eventsQueue string

param useJob bool
param cpu string
param memory string

param minReplicas int
param maxReplicas int
param messageCount int
param activationMessageCount int
param pollingInterval int
param cooldownPeriod int

@description('Seconds a worker gets after SIGTERM to abandon its message before it is killed.')
param terminationGracePeriodSeconds int = 60

@description('Job mode only: the longest one chunk may render, in seconds.')
param jobReplicaTimeoutSeconds int = 7200

var placeholderImage = 'mcr.microsoft.com/k8se/quickstart:latest'

var gpuProfileName = 'gpu'

// What a replica of each serverless GPU profile has (Container Apps serverless GPUs): a GPU
// worker takes the whole replica.
var gpuReplicaResources = {
  'Consumption-GPU-NC8as-T4': {
    cpu: 8
    memory: '56Gi'
  }
  'Consumption-GPU-NC24-A100': {
    cpu: 24
    memory: '220Gi'
  }
}

var gpuProfiles = empty(gpuWorkloadProfileType) ? [] : [
  {
    name: gpuProfileName
    workloadProfileType: gpuWorkloadProfileType
  }
]

// Settings renderfarm.shared.settings.Settings reads (its env_names()), the same for every pool. Every
// value is a parameter or a literal, so the loops below are known when the deployment starts
// (BCP178/BCP182): never read a resource's properties or a module's outputs into them.
var workerSettings = {
  RENDERFARM_ENVIRONMENT: 'production'
  RENDERFARM_STORAGE_ACCOUNT_URL: storageAccountUrl
  // Usage totals and budgets, in the table account the API's rate limit uses.
  RENDERFARM_RATE_LIMIT_TABLE_ENDPOINT: tableEndpoint
  RENDERFARM_SERVICEBUS_NAMESPACE: serviceBusNamespace
  RENDERFARM_SCENES_CONTAINER: scenesContainer
  RENDERFARM_JOBS_CONTAINER: jobsContainer
  RENDERFARM_EVENTS_QUEUE: eventsQueue
  AZURE_CLIENT_ID: workerIdentityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
}

// A job execution takes one message and exits; KEDA starts one execution per message.
var jobModeSettings = {
  RENDERFARM_WORKER_MAX_MESSAGES: '1'
}

var allWorkerSettings = union(workerSettings, useJob ? jobModeSettings : {})

var workerEnv = [for setting in items(allWorkerSettings): {
  name: setting.key
  value: setting.value
}]

// Container App and Job names allow no '.': '5.3' becomes '5-3'; a GPU pool's name says gpu.
var workerNames = [for pool in pools: '${useJob ? 'caj' : 'ca'}-worker-${pool.device == 'GPU' ? 'gpu-' : ''}${replace(pool.blenderVersion, '.', '-')}-${token}']

// Each pool's container: its Blender's image, its own queues, highest band first
// (RENDERFARM_QUEUE_NAMES), what it renders on (RENDERFARM_WORKER_DEVICE) and how far it scales
// (RENDERFARM_WORKER_MAX_REPLICAS). A GPU pool's replica is the whole GPU profile's.
var poolContainers = [for pool in pools: [
  {
    name: 'worker'
    image: empty(workerImageTag) ? placeholderImage : '${registryLoginServer}/${imageRepository}:${workerImageTag}-blender-${pool.blenderVersion}'
    resources: pool.device == 'GPU' ? gpuReplicaResources[gpuWorkloadProfileType] : {
      cpu: json(cpu)
      memory: memory
    }
    env: concat(workerEnv, [
      {
        name: 'RENDERFARM_QUEUE_NAMES'
        value: join(pool.queueNames, ',')
      }
      {
        name: 'RENDERFARM_WORKER_DEVICE'
        value: pool.device
      }
      {
        // The pool's own scale-out limit: the worker that quotes a scouted job plans its rest
        // on it (renderfarm.jobs.quote_estimate).
        name: 'RENDERFARM_WORKER_MAX_REPLICAS'
        value: string(pool.device == 'GPU' ? gpuMaxReplicas : maxReplicas)
      }
    ])
  }
]]

// KEDA reads the depth of each of a pool's three queues (one rule each: the HPA runs the most
// replicas any rule asks for) as the scaler identity; no connection string anywhere.
var depthCounts = {
  namespace: serviceBusNamespaceName
  messageCount: string(messageCount)
  activationMessageCount: string(activationMessageCount)
}

var queueDepthMetadata = [for pool in pools: [
  union(depthCounts, {
    queueName: pool.queueNames[0]
  })
  union(depthCounts, {
    queueName: pool.queueNames[1]
  })
  union(depthCounts, {
    queueName: pool.queueNames[2]
  })
]]

var bandNames = [
  'high'
  'normal'
  'low'
]

var identities = {
  '${workerIdentityId}': {}
  '${scalerIdentityId}': {}
}

// The worker's code may use its own identity only; the scaler's serves the platform alone.
var identitySettings = [
  {
    identity: workerIdentityId
    lifecycle: 'Main'
  }
  {
    identity: scalerIdentityId
    lifecycle: 'None'
  }
]

var registries = [
  {
    server: registryLoginServer
    identity: workerIdentityId
  }
]

resource environment 'Microsoft.App/managedEnvironments@2024-10-02-preview' = {
  name: 'cae-${token}'
  location: location
  tags: tags
  properties: {
    // Logs go through the diagnostic setting below: no workspace key handed to the environment.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: concat([
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ], gpuProfiles)
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'containerapps-to-log-analytics'
  scope: environment
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource workerApps 'Microsoft.App/containerApps@2024-10-02-preview' = [for (pool, i) in pools: if (!useJob) {
  name: workerNames[i]
  location: location
  tags: union(tags, {
    blenderVersion: pool.blenderVersion
  })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: identities
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: pool.device == 'GPU' ? gpuProfileName : 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: registries
      identitySettings: identitySettings
    }
    template: {
      containers: poolContainers[i]
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      scale: {
        minReplicas: minReplicas
        maxReplicas: pool.device == 'GPU' ? gpuMaxReplicas : maxReplicas
        pollingInterval: pollingInterval
        cooldownPeriod: cooldownPeriod
        rules: [
          {
            name: 'queue-depth-${bandNames[0]}'
            custom: {
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][0]
              identity: scalerIdentityId
            }
          }
          {
            name: 'queue-depth-${bandNames[1]}'
            custom: {
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][1]
              identity: scalerIdentityId
            }
          }
          {
            name: 'queue-depth-${bandNames[2]}'
            custom: {
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][2]
              identity: scalerIdentityId
            }
          }
        ]
      }
    }
  }
}]

resource workerJobs 'Microsoft.App/jobs@2024-10-02-preview' = [for (pool, i) in pools: if (useJob) {
  name: workerNames[i]
  location: location
  tags: union(tags, {
    blenderVersion: pool.blenderVersion
  })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: identities
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: pool.device == 'GPU' ? gpuProfileName : 'Consumption'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: jobReplicaTimeoutSeconds
      // Service Bus redelivers a failed chunk (up to MaxDeliveryCount): no retry here as well.
      replicaRetryLimit: 0
      registries: registries
      identitySettings: identitySettings
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          minExecutions: minReplicas
          maxExecutions: pool.device == 'GPU' ? gpuMaxReplicas : maxReplicas
          pollingInterval: pollingInterval
          rules: [
            {
              name: 'queue-depth-${bandNames[0]}'
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][0]
              identity: scalerIdentityId
            }
            {
              name: 'queue-depth-${bandNames[1]}'
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][1]
              identity: scalerIdentityId
            }
            {
              name: 'queue-depth-${bandNames[2]}'
              type: 'azure-servicebus'
              metadata: queueDepthMetadata[i][2]
              identity: scalerIdentityId
            }
          ]
        }
      }
    }
    template: {
      containers: poolContainers[i]
    }
  }
}]

output environmentName string = environment.name
// [{ blenderVersion, name }] per pool; names are computed from parameters, so no conditional
// resource is dereferenced here.
output workerNames array = [for (pool, i) in pools: {
  blenderVersion: pool.blenderVersion
  device: pool.device
  name: workerNames[i]
}]
output workerKind string = useJob ? 'job' : 'app'

// The Container Apps environment and the Blender worker, scaled by KEDA's azure-servicebus
// scaler on the chunk queue: either a Container App that keeps Blender loaded between messages
// (the default) or a Container Apps Job, one message per execution.

param location string
param tags object
param token string
param workspaceId string
param appInsightsName string

param registryLoginServer string
@description('Full image reference; empty deploys a public placeholder until deploy.sh has built the worker.')
param workerImage string

param workerIdentityId string
param workerIdentityClientId string
param scalerIdentityId string

param storageAccountUrl string
param serviceBusNamespace string
param serviceBusNamespaceName string
param queueName string
param scenesContainer string
param jobsContainer string

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
var image = empty(workerImage) ? placeholderImage : workerImage

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Settings renderfarm.settings.Settings reads (its env_names()).
var workerSettings = {
  RENDERFARM_ENVIRONMENT: 'production'
  RENDERFARM_STORAGE_ACCOUNT_URL: storageAccountUrl
  RENDERFARM_SERVICEBUS_NAMESPACE: serviceBusNamespace
  RENDERFARM_QUEUE_NAME: queueName
  RENDERFARM_SCENES_CONTAINER: scenesContainer
  RENDERFARM_JOBS_CONTAINER: jobsContainer
  AZURE_CLIENT_ID: workerIdentityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
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

// KEDA reads the queue depth as the scaler identity; no connection string anywhere.
var queueDepthMetadata = {
  namespace: serviceBusNamespaceName
  queueName: queueName
  messageCount: string(messageCount)
  activationMessageCount: string(activationMessageCount)
}

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

var containers = [
  {
    name: 'worker'
    image: image
    resources: {
      cpu: json(cpu)
      memory: memory
    }
    env: workerEnv
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
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
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

resource workerApp 'Microsoft.App/containerApps@2024-10-02-preview' = if (!useJob) {
  name: 'ca-worker-${token}'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: identities
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: registries
      identitySettings: identitySettings
    }
    template: {
      containers: containers
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        pollingInterval: pollingInterval
        cooldownPeriod: cooldownPeriod
        rules: [
          {
            name: 'render-chunks-depth'
            custom: {
              type: 'azure-servicebus'
              metadata: queueDepthMetadata
              identity: scalerIdentityId
            }
          }
        ]
      }
    }
  }
}

resource workerJob 'Microsoft.App/jobs@2024-10-02-preview' = if (useJob) {
  name: 'caj-worker-${token}'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: identities
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
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
          maxExecutions: maxReplicas
          pollingInterval: pollingInterval
          rules: [
            {
              name: 'render-chunks-depth'
              type: 'azure-servicebus'
              metadata: queueDepthMetadata
              identity: scalerIdentityId
            }
          ]
        }
      }
    }
    template: {
      containers: containers
    }
  }
}

output environmentName string = environment.name
output workerName string = useJob ? workerJob.name : workerApp.name
output workerKind string = useJob ? 'job' : 'app'

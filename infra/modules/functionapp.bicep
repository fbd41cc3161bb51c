// The API, the dead-letter handlers, the job_events consumer (previews, webhook fan-out) and the
// webhook_deliveries consumer: one Python 3.13 Function App on the Flex Consumption plan (scales
// to zero), running as a user-assigned identity with identity-based connections only. Flex
// Consumption rejects some site properties (ftpsState, linuxFxVersion, ...):
// tests/infra/test_flex_consumption.py keeps them out, from Microsoft's documented list.

param location string
param tags object
param token string

param identityId string
param identityClientId string

param hostBlobEndpoint string
param deploymentContainer string

@description('Application Insights connection string (monitoring module output), a parameter so that the settings loop below is known when the deployment starts.')
param appInsightsConnectionString string

param storageAccountUrl string
param serviceBusNamespace string

@description('Chunk queues are named <queuePrefix>-<major.minor>, one per Blender version.')
param queuePrefix string

@description('Blender versions (major.minor) with a worker pool: the API routes jobs among them and the dead-letter Function watches each pool queue.')
param blenderVersions array

param scenesContainer string
param jobsContainer string

@description('Webhook records; their secrets (webhook-<id>) go to the Key Vault.')
param webhooksContainer string

@description('Trigger queue of the job_events Function; the API publishes job.accepted and job.cancelled to it.')
param eventsQueue string

@description('Trigger queue of the webhook_deliveries Function; job_events fans out to it and the deliveries consumer schedules its own retries on it.')
param webhookDeliveriesQueue string

@description('API key hashes (read) and webhook secrets (set, read, deleted).')
param keyVaultUrl string

@allowed([512, 2048, 4096])
param instanceMemoryMB int

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Python of the Function App: renderfarm runs on 3.13 (Flex Consumption supports it, see infra/README.md).')
param pythonVersion string = '3.13'

// Settings the Functions host reads, not renderfarm's code (tests/infra keeps the two apart).
// Flex Consumption sets the runtime in functionAppConfig: no FUNCTIONS_WORKER_RUNTIME here.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: hostBlobEndpoint
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
  // Every Service Bus trigger's identity-based connection (function_app.py: one dead-letter
  // trigger per pool queue, job_events and webhook_deliveries, each with
  // connection=ServiceBusConnection).
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
}

// Settings renderfarm.settings.Settings reads (its env_names()).
var renderfarmSettings = {
  RENDERFARM_ENVIRONMENT: 'production'
  RENDERFARM_STORAGE_ACCOUNT_URL: storageAccountUrl
  RENDERFARM_SERVICEBUS_NAMESPACE: serviceBusNamespace
  RENDERFARM_QUEUE_PREFIX: queuePrefix
  RENDERFARM_BLENDER_VERSIONS: join(blenderVersions, ',')
  RENDERFARM_SCENES_CONTAINER: scenesContainer
  RENDERFARM_JOBS_CONTAINER: jobsContainer
  RENDERFARM_WEBHOOKS_CONTAINER: webhooksContainer
  // Read when the host indexes the functions: the triggers' queue names.
  RENDERFARM_EVENTS_QUEUE: eventsQueue
  RENDERFARM_WEBHOOK_DELIVERIES_QUEUE: webhookDeliveriesQueue
  RENDERFARM_KEYVAULT_URL: keyVaultUrl
  AZURE_CLIENT_ID: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
}

// Every value above is a parameter or a literal: the loop is known when the deployment starts.
var allSettings = union(hostSettings, renderfarmSettings)

var appSettingList = [for setting in items(allSettings): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption bills always-ready instances; the farm scales to zero when idle
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: this is the public API; callers are authenticated by the app (API keys, Entra ID)
  // checkov:skip=CKV_AZURE_212: scaling to zero when idle is the point; Flex Consumption adds instances on demand
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the App Service health check
  // checkov:skip=CKV_AZURE_13: the API authenticates callers itself (API keys or Entra ID bearer tokens); App Service Authentication would refuse API-key clients
  // checkov:skip=CKV_AZURE_17: client certificates are not how renderfarm's clients authenticate
  // checkov:skip=CKV_AZURE_88: Flex Consumption keeps its files in Blob Storage, not in Azure Files
  // checkov:skip=CKV_AZURE_78: Flex Consumption rejects siteConfig.ftpsState (FTPS not supported, per Microsoft's Flex Consumption deprecations); FTP publishing is off through the basicPublishingCredentialsPolicies below
  name: 'func-${token}'
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // Not among the site properties Flex Consumption rejects (infra/README.md cites the list).
      http20Enabled: true
      appSettings: appSettingList
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      // Flex Consumption sets the language here; siteConfig.linuxFxVersion is rejected on Flex.
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No publishing passwords: deployments authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName

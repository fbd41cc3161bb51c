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

@description('The data account\'s table endpoint: the rate-limit counters every API instance shares.')
param tableEndpoint string

@description('The table of those counters (storage module).')
param rateLimitTable string
param serviceBusNamespace string

@description('Chunk queues are named <queuePrefix>-<major.minor>[-gpu][-high|-low], one per Blender version, device and priority band.')
param queuePrefix string

@description('Blender versions (major.minor) with a worker pool: the API routes jobs among them and the dead-letter Function watches each pool queue.')
param blenderVersions array

@description('The farm has GPU workers: the API accepts render.device GPU and the dead-letter functions watch the GPU queues.')
param gpuWorkers bool = false

@description('The most replicas a worker pool scales to (KEDA maxReplicas): the API plans chunk sizes for it.')
@minValue(1)
param workerMaxReplicas int

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

@description('Entra ID sign-in (App Service Authentication) in front of the dashboard; /api/* stays open to API-key clients (infra/README.md).')
param entraSignIn bool = false

@description('With entraSignIn: the application (client) ID of the dashboard\'s Entra app registration.')
param entraClientId string = ''

@description('With entraSignIn: the Key Vault secret holding that registration\'s client secret. The template never sees the secret: an app setting holds a Key Vault reference to it.')
param entraClientSecretName string = 'entra-client-secret'

// The app setting App Service Authentication reads the client secret from (the name the portal
// uses too). Its value is a Key Vault reference, resolved with the site's user-assigned identity
// (siteConfig.keyVaultReferenceIdentity), which already reads this vault's secrets.
var entraSecretSettingName = 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'

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

// Settings renderfarm.shared.settings.Settings reads (its env_names()).
var renderfarmSettings = {
  RENDERFARM_ENVIRONMENT: 'production'
  RENDERFARM_STORAGE_ACCOUNT_URL: storageAccountUrl
  RENDERFARM_RATE_LIMIT_TABLE_ENDPOINT: tableEndpoint
  RENDERFARM_RATE_LIMIT_TABLE: rateLimitTable
  RENDERFARM_SERVICEBUS_NAMESPACE: serviceBusNamespace
  RENDERFARM_QUEUE_PREFIX: queuePrefix
  RENDERFARM_BLENDER_VERSIONS: join(blenderVersions, ',')
  RENDERFARM_GPU_WORKERS: gpuWorkers ? 'true' : 'false'
  RENDERFARM_WORKER_MAX_REPLICAS: string(workerMaxReplicas)
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

// Read by App Service Authentication, not by renderfarm's code; given only with entraSignIn. The
// name is entraSecretSettingName's (tests/infra checks they agree).
var authSettings = {
  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUrl}secrets/${entraClientSecretName}/)'
}

// Every value above is a parameter or a literal: the loop is known when the deployment starts.
var allSettings = union(hostSettings, renderfarmSettings, entraSignIn ? authSettings : {})

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
  // checkov:skip=CKV_AZURE_13: the API authenticates callers itself (API keys); App Service Authentication in front of the dashboard is optional (entraSignIn, authSettingsV2 below, /api/* excluded so API-key clients keep working)
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
      // Key Vault references in app settings resolve as this identity (there is no system one).
      keyVaultReferenceIdentity: identityId
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

// Optional Entra ID sign-in for the dashboard. Signed-out browsers are sent to Microsoft's sign-in
// page; /api/* is excluded, so CLI, add-on and webhook clients keep using API keys (the app
// checks them). Behind it the dashboard still asks for an API key: Entra decides who may reach
// the page, the key which tenant's jobs they see.
resource authSettingsV2 'Microsoft.Web/sites/config@2024-04-01' = if (entraSignIn) {
  // checkov:skip=CKV_AZURE_13: checkov reads every Microsoft.Web/sites/config as the 'web' config; this resource is authsettingsV2, App Service Authentication itself
  // checkov:skip=CKV_AZURE_63: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  // checkov:skip=CKV_AZURE_65: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  // checkov:skip=CKV_AZURE_66: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  // checkov:skip=CKV_AZURE_80: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  // checkov:skip=CKV_AZURE_88: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  // checkov:skip=CKV_AZURE_222: checkov reads every Microsoft.Web/sites/config as the 'web' config (SiteConfig properties); this one is authsettingsV2, which has none of them
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      excludedPaths: [
        '/api/*'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: entraClientId
          clientSecretSettingName: entraSecretSettingName
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName

// Every role assignment in one place, each at the narrowest scope that works, named by
// guid(scope, principal, role) so that a redeployment finds the same assignment again.

param dataAccountName string
param hostAccountName string
param scenesContainer string
param jobsContainer string
param webhooksContainer string
param rateLimitTable string
param usageTable string
param budgetsTable string
param serviceBusNamespaceName string

@description('Every pool queue: the API sends to each and its dead-letter Function reads each; workers and KEDA read them.')
param queueNames array

@description('job-events: the API, its dead-letter handlers and the workers publish to it; the job_events Function reads it.')
param eventsQueueName string

@description('webhook-deliveries: job_events sends to it; webhook_deliveries reads it and schedules its own retries on it.')
param webhookDeliveriesQueueName string

param keyVaultName string
param registryName string
param appInsightsName string

param apiPrincipalId string
param workerPrincipalId string
param scalerPrincipalId string

@description('Object id of whoever runs deploy.sh: it stores the first API key. Empty: none.')
param deployerPrincipalId string
@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string

// Built-in role definition ids.
var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var blobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
var blobDelegator = 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a' // Storage Blob Delegator
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var serviceBusSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var serviceBusReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
var serviceBusOwner = '090c5cfd-751d-490a-894a-3ce6f1109419' // Azure Service Bus Data Owner
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
var metricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource dataAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: dataAccountName
}

resource hostAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostAccountName
}

resource scenes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${dataAccountName}/default/${scenesContainer}'
}

resource jobs 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${dataAccountName}/default/${jobsContainer}'
}

resource webhooks 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${dataAccountName}/default/${webhooksContainer}'
}

resource rateLimits 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${dataAccountName}/default/${rateLimitTable}'
}

resource usage 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${dataAccountName}/default/${usageTable}'
}

resource budgets 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${dataAccountName}/default/${budgetsTable}'
}

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespaceName
}

// The loop's source is a parameter of this module: known when its deployment starts.
resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = [for queueName in queueNames: {
  parent: namespace
  name: queueName
}]

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = {
  parent: namespace
  name: eventsQueueName
}

resource webhookDeliveriesQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = {
  parent: namespace
  name: webhookDeliveriesQueueName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// --- The API (Function App identity) ---

// The Functions host keeps leases, keys and its deployment package in its own account.
resource apiHostStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostAccount.id, apiPrincipalId, blobDataOwner)
  scope: hostAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwner)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Scenes: the API signs upload URLs, which can grant no more than its own rights.
resource apiScenes 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scenes.id, apiPrincipalId, blobDataContributor)
  scope: scenes
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Jobs: manifests, cancellation marks, status reads, frame and preview download URLs, and the
// previews the job_events Function writes next to the frames.
resource apiJobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobs.id, apiPrincipalId, blobDataContributor)
  scope: jobs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Webhooks: the records (URL, events, delivery stats) the API registers, lists and removes and
// the two consumers read and update. Their secrets are in Key Vault, not here.
resource apiWebhooks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webhooks.id, apiPrincipalId, blobDataContributor)
  scope: webhooks
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The rate-limit counters every API instance shares: reads, inserts, conditional updates and
// deletes of old days' entities, in this one table.
resource apiRateLimits 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rateLimits.id, apiPrincipalId, tableDataContributor)
  scope: rateLimits
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// User-delegation keys are account-level: this role grants that alone, no data access.
resource apiDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataAccount.id, apiPrincipalId, blobDelegator)
  scope: dataAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDelegator)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiSends 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, apiPrincipalId, serviceBusSender)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusSender)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// The dead-letter handler reads each <queue>/$DeadLetterQueue (one trigger per pool) to fail
// chunks whose workers died. Receiver (Listen) is enough: with Manage the scale controller could
// read the queue length, without it the trigger scales incrementally, which a dead-letter queue's
// trickle does not notice (infra/README.md cites Microsoft's note).
resource apiReadsDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, apiPrincipalId, serviceBusReceiver)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusReceiver)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// The dashboard's Farm page reads each chunk queue's active, scheduled and dead-lettered counts
// through the administration API (GetQueue runtime properties), which needs Manage. Data Owner
// is the only built-in role with Manage; the page reads each queue by name (it lists nothing), so
// Owner on each pool queue works, as it does for KEDA's scaler, and the namespace (the other
// queues, new queues) stays out of reach. Why not Azure Monitor metrics instead: infra/README.md.
resource apiReadsQueueCounts 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, apiPrincipalId, serviceBusOwner)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusOwner)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// job-events: the API publishes job.accepted and job.cancelled, its dead-letter handlers
// chunk.failed (and the job's end when they settle its last chunk); the job_events Function
// consumes every event.
resource apiPublishesEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, apiPrincipalId, serviceBusSender)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusSender)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiConsumesEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, apiPrincipalId, serviceBusReceiver)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusReceiver)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// webhook-deliveries: job_events sends the first tries, webhook_deliveries consumes them and
// schedules each retry as a new message, so one identity sends and receives.
resource apiSendsDeliveries 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webhookDeliveriesQueue.id, apiPrincipalId, serviceBusSender)
  scope: webhookDeliveriesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusSender)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiConsumesDeliveries 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webhookDeliveriesQueue.id, apiPrincipalId, serviceBusReceiver)
  scope: webhookDeliveriesQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusReceiver)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault: the API reads the API key hashes (apikey-*) and sets, reads and deletes the webhook
// secrets (webhook-<id>). Secrets Officer on the vault is the narrowest built-in role that sets
// and deletes: an assignment scoped to one secret cannot cover secrets made later, Key Vault
// takes no role assignment conditions, and a custom role (still vault-wide) would need
// roleDefinitions/write, which the deployer's documented roles lack. It also lets this identity
// write apikey-* secrets: a vault of its own for webhook secrets would remove that, at the cost
// of a second vault URL setting (infra/README.md). Officer includes everything Secrets User
// grants, so it replaces that assignment.
resource apiManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, apiPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, apiPrincipalId, metricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisher)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- The worker ---

resource workerReadsScenes 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scenes.id, workerPrincipalId, blobDataReader)
  scope: scenes
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataReader)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// A project file whose bytes do not hash to its name is deleted by the worker that found it, so
// that the client's next submit uploads it again. Contributor on scenes, narrowed by an ABAC
// condition to that one action: deleting blobs under <tenant>/files/. Writes, tags and moves stay
// denied, so the worker of an untrusted .blend writes nothing here.
var deleteProjectFilesOnly = '''
(
 (
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'})
  AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'})
  AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action'})
  AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write'})
  AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'})
 )
 OR
 (
  ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'}
  AND @Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike '*/files/*'
 )
)
'''

resource workerDeletesBadProjectFiles 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scenes.id, workerPrincipalId, blobDataContributor)
  scope: scenes
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
    condition: deleteProjectFilesOnly
    conditionVersion: '2.0'
  }
}

// Usage totals: each settled attempt's entity-group transaction (conditional updates, inserts of
// its applied marker); budgets: read before chunks start, threshold marks inserted once.
resource workerUsage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(usage.id, workerPrincipalId, tableDataContributor)
  scope: usage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workerBudgets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(budgets.id, workerPrincipalId, tableDataContributor)
  scope: budgets
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The Function App reads both (GET /api/usage, a submit's budget check), and its dead-letter
// handlers record jobs' ends, which add each job's own costs to the totals.
resource apiUsage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(usage.id, apiPrincipalId, tableDataContributor)
  scope: usage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource apiBudgets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(budgets.id, apiPrincipalId, tableDataContributor)
  scope: budgets
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Jobs: per-chunk state (etag-conditional writes) and the frames themselves.
resource workerJobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobs.id, workerPrincipalId, blobDataContributor)
  scope: jobs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// One worker identity for every pool: each pool's code reads only its own queue
// (RENDERFARM_QUEUE_NAME); a pool per identity would add an identity and a role set per version.
resource workerReceives 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, workerPrincipalId, serviceBusReceiver)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusReceiver)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// A chunk a spent budget holds goes back to its own queue, scheduled for later (the worker
// sends a copy and completes the one it holds: containerapp_worker/held_messages.py).
resource workerReschedulesHeldChunks 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, workerPrincipalId, serviceBusSender)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusSender)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// job-events: job.started, job.completed, job.failed, job.cancelled and chunk.failed. Send only.
resource workerPublishesEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, workerPrincipalId, serviceBusSender)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusSender)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workerPulls 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, workerPrincipalId, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workerTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, workerPrincipalId, metricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisher)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- KEDA's scaler ---

// Reading a queue's message count needs Manage; no narrower built-in role grants it. Scoped
// to the pool queues, held by an identity that the worker's code cannot use.
resource scalerReadsDepth 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, scalerPrincipalId, serviceBusOwner)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusOwner)
    principalId: scalerPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// --- Whoever deploys: writes API-key hashes ---

resource deployerWritesKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

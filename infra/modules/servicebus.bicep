// Service Bus namespace (Standard: duplicate detection needs it), one chunk queue per Blender
// pool, the job-events queue and the webhook-deliveries queue. Every queue's properties mirror
// emulators/servicebus/config.json; tests/infra checks they agree.

param location string
param tags object
param token string

@description('The chunk queues: per Blender pool (and GPU pool), one per priority band, named <prefix>-<major.minor>[-gpu][-high|-low].')
param queueNames array

@description('The events every part of the farm publishes (job.accepted .. chunk.failed); each event id is its message-id, so duplicate detection keeps one copy of an event sent twice.')
param eventsQueueName string

@description('One message per webhook delivery; a failed try is re-sent as a scheduled message (exponential backoff).')
param webhookDeliveriesQueueName string

param workspaceId string

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: 'sb-${token}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// A chunk's lock: the worker renews it every third (10 s) and retries a failed renewal, so it
// outlives a Service Bus outage of 18 s or more, and a killed worker's chunk comes back after
// 20-30 s (docs/reliability.md "Lock duration and renewal").
resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for queueName in queueNames: {
  parent: namespace
  name: queueName
  properties: {
    lockDuration: 'PT30S'
    maxDeliveryCount: 5
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    requiresSession: false
    enablePartitioning: false
  }
}]

// Events are deduplicated by their deterministic id within the window; an event whose handling
// keeps failing (10 tries, each building previews or fanning out again) is dead-lettered.
resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: eventsQueueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    requiresSession: false
    enablePartitioning: false
  }
}

// A retry is a new scheduled message carrying the next try's number, so the code bounds the
// tries; MaxDeliveryCount bounds the redeliveries of one message (a consumer that crashed, or
// the failed last try, which the Function leaves to Service Bus to dead-letter).
resource webhookDeliveriesQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: webhookDeliveriesQueueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    requiresSession: false
    enablePartitioning: false
  }
}

resource namespaceLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'servicebus-to-log-analytics'
  scope: namespace
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

output namespaceName string = namespace.name
output namespaceId string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueNames array = [for (queueName, i) in queueNames: queues[i].name]
output eventsQueueName string = eventsQueue.name
output webhookDeliveriesQueueName string = webhookDeliveriesQueue.name

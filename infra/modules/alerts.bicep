// Alerts: any dead-lettered chunk, job event or webhook delivery, and the API's server-error
// rate.

param tags object
param token string
param location string

param serviceBusNamespaceId string

@description('Every pool queue: a dead-lettered chunk on any of them alerts.')
param queueNames array

@description('job-events: a dead-lettered event is a job whose previews or webhooks never happened.')
param eventsQueueName string

@description('webhook-deliveries: a delivery is dead-lettered after its last try failed.')
param webhookDeliveriesQueueName string
param appInsightsId string

@description('Where alerts are e-mailed; empty: alerts show in the portal only.')
param alertEmail string

@description('Percentage of API requests answered 5xx over the window that raises the alert.')
param apiFailureRatePercent int

@description('Fewer requests than this in the window never alert: one failure out of two is noise.')
param apiMinimumRequests int = 20

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'renderfarm'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var metricActions = empty(alertEmail) ? [] : [
  {
    actionGroupId: actionGroup.id
  }
]

var logActionGroups = empty(alertEmail) ? [] : [
  actionGroup.id
]

// A dead-lettered chunk is a frame range that will never render without a person looking.
resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-dead-lettered-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A render chunk was dead-lettered on a pool queue (${join(queueNames, ', ')}): read its DeadLetterReason.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadLetteredChunks'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: queueNames
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: metricActions
  }
}

// An event that failed 10 times: a job whose previews were not built or whose webhooks were not
// told. The farm's own fault, so as severe as a dead-lettered chunk.
resource deadLetteredEvents 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-dead-lettered-events-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A job event was dead-lettered on ${eventsQueueName}: its previews or webhook deliveries did not happen. Read its DeadLetterReason, fix the cause, then resubmit or remove it.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadLetteredEvents'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                eventsQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: metricActions
  }
}

// A delivery whose every try failed: usually the receiver's fault (down, 5xx), which the webhook's
// GET shows its tenant (last status, failures), so a warning rather than an error. Nothing drains
// this dead-letter queue: the alert stays fired (one notification) until someone removes them.
resource deadLetteredDeliveries 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-dead-lettered-webhooks-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A webhook delivery was dead-lettered on ${webhookDeliveriesQueueName} after its last try: read its DeadLetterReason and the webhook GET (last status, failures).'
    severity: 3
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadLetteredDeliveries'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                webhookDeliveriesQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: metricActions
  }
}

// 4xx answers are the client's mistake: only 5xx count as the API failing.
var failureRateQuery = 'requests | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total >= ${apiMinimumRequests} | extend failureRate = 100.0 * failed / total'

resource apiFailureRate 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'alert-api-failure-rate-${token}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'renderfarm API failure rate'
    description: 'More than ${apiFailureRatePercent}% of API requests answered 5xx in 15 minutes.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: failureRateQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failureRate'
          operator: 'GreaterThan'
          threshold: apiFailureRatePercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: logActionGroups
    }
  }
}

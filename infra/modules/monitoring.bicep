// Log Analytics workspace and the workspace-based Application Insights that the API, the
// worker and the alerts share.

param location string
param tags object
param token string

@description('Refuse instrumentation-key ingestion: telemetry must authenticate with Entra ID.')
param disableLocalAuth bool

@minValue(30)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: disableLocalAuth
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// Known only once the component exists, so the apps' modules take it as a parameter: a loop over
// settings that reached appInsights.properties directly would be BCP178/BCP182. Microsoft does not
// treat the connection string as a secret, and with DisableLocalAuth ingestion needs Entra ID.
output appInsightsConnectionString string = appInsights.properties.ConnectionString

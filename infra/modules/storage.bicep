// Two storage accounts: one for renderfarm's data (scenes, jobs, frames, webhooks) and one for the
// Functions host (its leases and the Flex Consumption deployment package), so that the host's
// Blob Data Owner role never reaches the data. Both reject shared keys and anonymous reads.

param location string
param tags object
param token string
param workspaceId string

param scenesContainer string
param jobsContainer string

@description('Webhook records (URL, events, delivery stats); their secrets are in Key Vault.')
param webhooksContainer string

@description('The API\'s rate-limit counters (Table Storage), shared by every instance.')
param rateLimitTable string

@description('Tenants\' running usage totals and their budgets (Table Storage), beside it.')
param usageTable string
param budgetsTable string

param deploymentContainer string

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param skuName string

@minValue(1)
param softDeleteDays int = 7

resource data 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is 'st' plus uniqueString(): 15 lower-case letters and digits, which the check cannot evaluate
  // checkov:skip=CKV_AZURE_35: no VNet in this design (Flex apps and Container Apps reach it over public endpoints); Entra RBAC is the gate, shared keys are off
  // checkov:skip=CKV_AZURE_59: same: public endpoint with RBAC only, anonymous blob access off
  // checkov:skip=CKV_AZURE_206: replication is the skuName parameter; LRS keeps the idle cost down
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
      }
    }
  }
}

resource dataBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: data
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource scenes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: dataBlobs
  name: scenesContainer
  properties: {
    publicAccess: 'None'
  }
}

resource jobs 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: dataBlobs
  name: jobsContainer
  properties: {
    publicAccess: 'None'
  }
}

resource webhooks 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: dataBlobs
  name: webhooksContainer
  properties: {
    publicAccess: 'None'
  }
}

// The API's rate limit is one for the whole farm: every instance counts in this table, with its
// identity (no shared key). Counters of past days are deleted by the API (renderfarm_azure/
// rate_limit_store.py): Table Storage has no TTL.
resource dataTables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: data
  name: 'default'
}

resource rateLimits 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: dataTables
  name: rateLimitTable
}

// Usage totals: one partition per tenant and month, written as chunks settle (renderfarm_azure/
// usage_totals_store.py). Budgets: set by the operator (renderfarm budgets), read where chunks
// start and jobs are submitted.
resource usage 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: dataTables
  name: usageTable
}

resource budgets 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: dataTables
  name: budgetsTable
}

resource host 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: 'stfn' plus uniqueString(): 17 lower-case letters and digits
  // checkov:skip=CKV_AZURE_35: see the data account
  // checkov:skip=CKV_AZURE_59: see the data account
  // checkov:skip=CKV_AZURE_206: host state is disposable: LRS
  name: 'stfn${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
      }
    }
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: host
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource deployment 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

// Who read or wrote which blob: audit trail for the data account.
resource dataBlobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'blob-to-log-analytics'
  scope: dataBlobs
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output dataAccountName string = data.name
output dataBlobEndpoint string = data.properties.primaryEndpoints.blob
output dataTableEndpoint string = data.properties.primaryEndpoints.table
output hostAccountName string = host.name
output hostBlobEndpoint string = host.properties.primaryEndpoints.blob

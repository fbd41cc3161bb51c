// Key Vault in RBAC mode: it holds the API keys' sha256 hashes (never a plaintext key) and the
// webhooks' signing secrets (webhook-<id>, tagged with their tenant). The API key secret format
// is documented in infra/README.md.

param location string
param tags object
param token string
param workspaceId string

@minValue(7)
@maxValue(90)
param softDeleteDays int = 7

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: no VNet in this serverless design: the API (Flex, no VNet integration) and deploy.sh reach the vault over its public endpoint; RBAC with Entra ID is the gate
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteDays
    // A deleted key hash stays recoverable; the vault name stays taken for softDeleteDays.
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Every secret read and write lands in the workspace.
resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'keyvault-to-log-analytics'
  scope: vault
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

output name string = vault.name
output uri string = vault.properties.vaultUri

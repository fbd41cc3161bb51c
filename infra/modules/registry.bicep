// Container Registry for the worker images (one per Blender pool); pulled by managed identity, no
// admin user. API 2025-04-01 (GA) has anonymousPullEnabled in its schema; 2023-07-01 has not, so
// the compiler warned BCP037 there (tests/infra/test_resource_properties.py guards this).

param location string
param tags object
param token string

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' = {
  // checkov:skip=CKV_AZURE_139: private networking needs Premium (about 1.7 USD a day while idle) and a VNet; pulls need Entra ID (AcrPull), admin user and anonymous pull are off
  // checkov:skip=CKV_AZURE_166: quarantine is a Premium feature; the only image is built from this repository by az acr build
  // checkov:skip=CKV_AZURE_163: image scanning is Microsoft Defender for Containers, a subscription-level choice outside this template
  name: 'cr${token}'
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer

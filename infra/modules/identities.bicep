// One user-assigned identity per principal, so each gets only its own roles, and role
// assignments exist before the apps that use them start (no first-pull race on the registry).

param location string
param tags object
param token string

// The API (Function App): sends chunks, reads API-key hashes, writes job manifests.
resource api 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-api-${token}'
  location: location
  tags: tags
}

// The worker's code: receives chunks, reads scenes, writes frames; pulls the image.
resource worker 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-worker-${token}'
  location: location
  tags: tags
}

// KEDA's queue-depth reads only. Reading a queue's runtime properties needs the Manage right,
// so this identity is kept apart from the worker and hidden from its code (lifecycle None).
resource scaler 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-scaler-${token}'
  location: location
  tags: tags
}

output apiId string = api.id
output apiClientId string = api.properties.clientId
output apiPrincipalId string = api.properties.principalId
output workerId string = worker.id
output workerClientId string = worker.properties.clientId
output workerPrincipalId string = worker.properties.principalId
output scalerId string = scaler.id
output scalerPrincipalId string = scaler.properties.principalId

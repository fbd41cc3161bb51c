"""Azure adapters for the domain core: Blob Storage, Service Bus, Key Vault, Azure Monitor.

Kept outside ``renderfarm/`` (which imports no Azure SDK) and outside ``functions/`` (the HTTP
layer) so that the worker can use the same stores without importing FastAPI.
"""

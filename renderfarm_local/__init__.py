"""The local farm: Azurite, the Service Bus and Key Vault emulators, the API and autoscaled
workers as supervised processes, with its live view and its commands (``renderfarm local``,
``renderfarm keys``). The client that drives any farm over HTTP is ``renderfarm_client``."""

"""The local farm (Azurite, the Service Bus emulator, the API and autoscaled workers as processes)
and the ``renderfarm`` command that drives any farm, local or in Azure, over HTTP."""

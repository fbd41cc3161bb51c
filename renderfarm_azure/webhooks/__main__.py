"""``python -m renderfarm_azure.webhooks``: the local farm's webhook deliveries consumer."""

from renderfarm_azure.webhooks.deliver import main

raise SystemExit(main())

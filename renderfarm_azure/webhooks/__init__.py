"""Signed webhooks (Standard Webhooks): registration, fan-out of events, delivery with retries.

- ``fan_out(event, summary, store=, deliveries=)`` (fan_out.py): called by the events consumer;
- ``webhook_services(settings)`` (services.py): the store, secrets and deliveries queue;
- ``python -m renderfarm_azure.webhooks`` (deliver.py): the deliveries consumer, locally.
"""

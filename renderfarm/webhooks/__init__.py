"""Webhooks: subscriptions, deliveries and their retries, URL rules, fan-out."""

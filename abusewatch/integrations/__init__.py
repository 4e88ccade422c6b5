"""Integrations with platforms over HTTP and with regulators: signed webhooks for platform actions
and escalations (webhooks.py), DSA statements of reasons (statements.py). Pure logic and HTTP
delivery; the Kafka side lives in the actions service (services/actions/webhooks.py)."""

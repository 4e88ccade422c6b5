"""Shared infrastructure: settings, configuration, package resources, tracing, backoff, shutdown."""

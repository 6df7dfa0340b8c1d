"""Traces and logs: OpenTelemetry spans when an OTLP endpoint is set, JSON logs on request."""

"""Dispatch adapters: the changelog-backed state tables and the Prometheus metrics."""

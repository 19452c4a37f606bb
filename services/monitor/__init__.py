"""Watching the stack from outside: the consumer-lag exporter (``python -m services.monitor``)."""

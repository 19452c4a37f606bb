"""Patrol adapters: Kafka publisher, idempotency store, read-only case register, audit log."""

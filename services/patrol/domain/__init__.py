"""Patrol domain: validation, idempotency, access, rate-limit policy, masking, Open311 mapping — no I/O."""

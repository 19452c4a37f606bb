"""Patrol domain: validation, idempotency, access, rate-limit policy, audit summaries, Open311 mapping — no I/O
(masking: services.common.privacy)."""

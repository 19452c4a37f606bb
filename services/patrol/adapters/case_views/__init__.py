"""Patrol's read model of the case events: its own database, tables and migrations (docs/patrol.md)."""

"""Pure rules of the shared feed: audiences (masking: services.common.privacy), the ledger chain, evaluation figures,
distances (no I/O)."""

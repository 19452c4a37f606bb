"""Pure rules of the shared feed: audiences, masking, the ledger chain, evaluation figures, distances (no I/O)."""

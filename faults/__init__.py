"""Fault suite: inject faults into the running stack, record every acknowledged write, check invariants (issue 7)."""

"""Dispatch entry points: the consume loop, the work-order relay and the per-event recorder."""

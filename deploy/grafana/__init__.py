"""Grafana dashboards kept as code (build_dashboards.py) and their file provisioning."""

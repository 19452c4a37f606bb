"""Patrol HTTP entry points: the JSON API and Open311 GeoReport v2 routers, error rendering, request guards."""

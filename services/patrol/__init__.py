"""The patrol service: the only way findings enter liandong (JSON API and Open311 GeoReport v2)."""

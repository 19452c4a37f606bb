"""Open311 GeoReport v2 mapping: services from the township's list, form → submission, case → service request."""

"""The case register: a SQL projection of the case-events topic (SQLite by default, PostgreSQL in production)."""

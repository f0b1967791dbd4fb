"""Alembic migrations; run with ``playroom migrate``."""

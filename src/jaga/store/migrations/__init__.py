"""Alembic migrations of Jaga's schema, shipped in the package; run by ``Database.migrate``."""

"""Alembic revisions, oldest first (``rev_NNNN_<what>.py``)."""

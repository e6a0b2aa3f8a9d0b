"""Rules that turn matches into actions; the durable outbox; idempotent executors; webhooks.

``rules`` decides (pure), ``plan`` writes the decision to the ``outbox`` with the content,
``worker`` runs ``executors`` on what is due, ``webhooks`` signs and delivers.
"""

"""The sub-commands of ``jaga``, one module each; ``jaga.cli`` assembles them.

Every command is a thin shell: it parses options, calls library functions, prints. A
:class:`~jaga.errors.JagaError` becomes a one-line message and exit code 1, never a traceback.
"""

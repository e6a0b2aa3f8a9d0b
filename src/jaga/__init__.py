"""Jaga: find, stop and report the spread of known abuse material.

The flow is media -> signals -> index -> matching -> actions; see docs/ and DESIGN.md.
"""

__version__ = "0.1.0"

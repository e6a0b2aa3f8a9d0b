"""``python -m jaga``: the same command as ``jaga``."""

from jaga.cli import app

if __name__ == "__main__":
    app(prog_name="jaga")

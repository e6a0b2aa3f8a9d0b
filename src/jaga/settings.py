"""Where Jaga keeps its state, read from the environment with laptop-friendly defaults.

``JAGA_HOME`` (default ``~/.jaga``) holds the SQLite database and index snapshots;
``JAGA_DATABASE_URL`` points at PostgreSQL (``postgresql+psycopg://...``) in production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str

    @property
    def index_dir(self) -> Path:
        return self.home / "index"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("JAGA_HOME") or Path.home() / ".jaga").expanduser()
    url = env.get("JAGA_DATABASE_URL") or f"sqlite:///{home / 'jaga.db'}"
    return Settings(home=home, database_url=url)

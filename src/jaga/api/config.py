"""Service settings: a TOML file (``jaga serve --config``) overridden by ``JAGA_*`` variables.

Defaults make ``jaga serve`` work on a laptop: SQLite under ``JAGA_HOME``, the outbox worker in
process, the index snapshot next to the database.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from jaga.errors import InvalidInput
from jaga.settings import load_settings


class ConfigError(InvalidInput):
    """A configuration file or variable that cannot be used."""


@dataclass(frozen=True)
class ServiceConfig:
    database_url: str
    index_dir: Path | None
    rules_path: Path | None = None
    #: Largest upload accepted (413 above), and largest download for URL submissions.
    max_upload_bytes: int = 64 * 2**20
    #: Largest hash file ``POST /v1/banks/{name}/import`` accepts (spooled to disk, not memory).
    max_import_bytes: int = 2**30
    #: Hashing: the fast JPEG path by default; ``exact`` decodes at full resolution.
    exact_hashing: bool = False
    dihedral: bool = True
    #: Match PDQ signal variants of uploaded images (turned, mirrored, centre-cropped, without
    #: border or frame, small rotation undone; see docs/evaluation.md). On by default: against
    #: banks from exchanges (plain hashes) it takes recall of the benchmark's edits from 37% to
    #: 81% (97% against banks added from media with variants) with no unrelated match, for
    #: about 5 ms more CPU per 768x512 upload (1.9x the work without them, decoding included).
    #: Turn it off where the upload path cannot afford that, and scan uploads afterwards.
    match_variants: bool = True
    min_quality: int = 50
    #: Networks URL fetching may reach although private (tests, or an internal media CDN).
    fetch_allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: Default per-key rate limit (requests/s and burst); a key may carry its own rate.
    rate_limit_per_s: float = 1000.0
    rate_limit_burst: int = 2000
    #: How often each process applies other processes' bank changes, and saves its snapshot.
    sync_interval_s: float = 1.0
    checkpoint_interval_s: float = 300.0
    #: Change-feed rows older than this are pruned (every minute, by each server process); a
    #: process or index snapshot further behind reloads from the store. 0 keeps them all.
    change_retention_days: float = 7.0
    #: Run the actions outbox worker inside the server process (else run ``jaga worker``).
    in_process_worker: bool = True
    #: Seconds an authenticated key is trusted before it is looked up again (revocations made
    #: through this process apply at once; made elsewhere, within this delay).
    auth_cache_s: float = 5.0
    #: Role granted to requests WITHOUT a key on the HMA-compatible routes only (None: a key is
    #: required everywhere). For unchanged HMA clients on a trusted network; see docs/api.md.
    hma_anonymous_role: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


_ENV = {
    "JAGA_DATABASE_URL": "database_url",
    "JAGA_INDEX_DIR": "index_dir",
    "JAGA_RULES_FILE": "rules_path",
    "JAGA_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "JAGA_MAX_IMPORT_BYTES": "max_import_bytes",
    "JAGA_EXACT_HASHING": "exact_hashing",
    "JAGA_DIHEDRAL": "dihedral",
    "JAGA_MATCH_VARIANTS": "match_variants",
    "JAGA_MIN_QUALITY": "min_quality",
    "JAGA_FETCH_ALLOW_NETWORKS": "fetch_allow_networks",
    "JAGA_RATE_LIMIT_PER_S": "rate_limit_per_s",
    "JAGA_RATE_LIMIT_BURST": "rate_limit_burst",
    "JAGA_SYNC_INTERVAL_S": "sync_interval_s",
    "JAGA_CHECKPOINT_INTERVAL_S": "checkpoint_interval_s",
    "JAGA_CHANGE_RETENTION_DAYS": "change_retention_days",
    "JAGA_IN_PROCESS_WORKER": "in_process_worker",
    "JAGA_AUTH_CACHE_S": "auth_cache_s",
    "JAGA_HMA_ANONYMOUS_ROLE": "hma_anonymous_role",
}
_TYPES = {f.name: f.type for f in fields(ServiceConfig)}


def _coerce(name: str, value: Any) -> Any:
    kind = str(_TYPES[name])
    try:
        if name == "fetch_allow_networks":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(ipaddress.ip_network(str(i).strip()) for i in items if str(i).strip())
        if value is None or value == "":
            return None if "None" in kind else value
        if kind.startswith("Path"):
            return Path(str(value)).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(f"not a boolean: {value!r}")
            return text in {"1", "true", "yes", "on"}
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"setting {name}: {error}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Defaults, then the TOML file's ``[jaga]`` table (or top level), then the environment."""
    env = dict(os.environ if env is None else env)
    settings = load_settings(env)
    config = ServiceConfig(database_url=settings.database_url, index_dir=settings.index_dir)
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config {path} is not valid TOML: {error}") from None
        table = data.get("jaga", data)
        unknown = sorted(set(table) - set(_TYPES) - {"extra"})
        if unknown:
            raise ConfigError(f"config {path}: unknown settings {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in table.items() if k != "extra"})
    for variable, name in _ENV.items():
        if variable in env:
            values[name] = _coerce(name, env[variable])
    config = replace(config, **values)
    if config.hma_anonymous_role not in (None, "hasher", "curator", "reviewer", "admin"):
        raise ConfigError(f"hma_anonymous_role must be a role, got {config.hma_anonymous_role!r}")
    if config.max_upload_bytes <= 0:
        raise ConfigError("max_upload_bytes must be positive")
    if config.max_import_bytes <= 0:
        raise ConfigError("max_import_bytes must be positive")
    return config

"""``GET /v1/status``: liveness and index state (no key needed; reveals no bank contents)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

import jaga
from jaga.api.context import ServiceContext
from jaga.api.deps import get_context

router = APIRouter(tags=["status"])


@router.get("/v1/status")
def service_status(context: ServiceContext = Depends(get_context)) -> dict[str, Any]:
    status = context.matcher.status()
    return {
        "status": "ok",
        "version": jaga.__version__,
        "index": {
            "entries": status.entries,
            "seq": status.seq,
            "last_sync": status.last_sync,
            "built_from": status.built_from,
        },
    }

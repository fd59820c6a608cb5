"""Where monitoring writes what the monitor page (``apps/monitor``) reads: plain files under
``$FLYWHEEL_HOME/monitoring/<uc>/``, each replaced atomically so a reader never sees half of one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration.settings import get_settings


def monitoring_dir(use_case: str, *parts: str) -> Path:
    """``$FLYWHEEL_HOME/monitoring/<uc>/...``, created."""
    folder = get_settings().home.joinpath("monitoring", use_case, *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, body: Any) -> None:
    """Replace ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1, default=str))
    tmp.replace(path)

"""Writing a run directory atomically: summary, records, timelines, config, figure."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from odma_sim import __version__


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name)


def atomic_dir(out: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary sibling directory, then swap it in for ``out``.

    A failure (or a kill) leaves ``out`` as it was; at worst a hidden ``.tmp`` sibling
    remains, never a half-written ``out``.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        fill(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolved_config(spec_dump: dict[str, Any], seed: int, source: str | None) -> str:
    header = (
        f"# Resolved by odma-sim {__version__} from {source or 'an inline config'}.\n"
        f"# Every preset and default is written out; this file reproduces the run:\n"
        f"#   odma-sim run <this file> --seed {seed}\n"
    )
    return header + yaml.safe_dump(spec_dump, sort_keys=False, allow_unicode=True)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(_json(obj), encoding="utf-8")

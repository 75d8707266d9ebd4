"""Where a profile's figures, claims and result caches go.

Only the ``full`` profile writes the committed ``figures/``, ``data/claims/`` and ``data/cache/``; every
other profile writes under the ignored ``runs/<profile>/`` so a quick or smoke rerun never silently
overwrites the published results. The repository root is found from ``DETDESIGN_HOME``, else by walking up
from the working directory (then from this file) to the ``pyproject.toml`` of detdesign.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from detdesign.profiles import profile as _profile

HOME_ENV = "DETDESIGN_HOME"


def _is_repo(path: Path) -> bool:
    py = path / "pyproject.toml"
    try:
        return py.is_file() and 'name = "detdesign"' in py.read_text()
    except OSError:
        return False


def repo_root() -> Path:
    """The detdesign checkout: ``$DETDESIGN_HOME``, else the nearest one above cwd or this file, else cwd."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for cand in (start, *start.parents):
            if _is_repo(cand):
                return cand
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Outputs:
    """Output folders of one profile (created on first use by the writers)."""

    profile: str
    root: Path
    figures: Path
    claims: Path
    cache: Path
    checkpoints: Path  # model checkpoints: always under the ignored runs/, never committed


def outputs(profile: str) -> Outputs:
    """Output folders for ``profile`` (validated with :func:`detdesign.profile`)."""
    name = _profile(profile).name
    repo = repo_root()
    if name == "full":
        return Outputs(name, repo, repo / "figures", repo / "data" / "claims", repo / "data" / "cache",
                       repo / "runs" / name / "checkpoints")
    root = repo / "runs" / name
    return Outputs(name, root, root / "figures", root / "claims", root / "cache", root / "checkpoints")

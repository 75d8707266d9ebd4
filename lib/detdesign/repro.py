"""Reproducibility: seeding, deterministic torch settings and an environment fingerprint.

Every notebook calls :func:`setup` in its first cells and prints :func:`fingerprint`, so a reader knows
which packages, CPU, thread count and commit produced the numbers they see.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scipy", "matplotlib", "pycocotools")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a fresh ``torch.Generator`` seeded with ``seed``."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def deterministic(threads: int | None = None) -> int:
    """Use deterministic torch kernels and a fixed thread count (default: all cores, at most 8).

    Returns the thread count in use. On CPU this makes reruns bit-identical for the same seed.
    """
    if threads is None:
        raw = os.environ.get("DETDESIGN_THREADS", "").strip()
        try:
            threads = int(raw) if raw else min(os.cpu_count() or 1, 8)
        except ValueError:
            raise ValueError(f"DETDESIGN_THREADS={raw!r} must be a whole number of threads, e.g. 2") from None
        if threads < 1:
            raise ValueError(f"DETDESIGN_THREADS={threads} must be >= 1 (unset it for one thread per core)")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    return threads


def setup(seed: int, threads: int | None = None) -> torch.Generator:
    """:func:`deterministic` + :func:`seed_everything`: the one call at the top of a notebook."""
    deterministic(threads)
    return seed_everything(seed)


@dataclass(frozen=True)
class Fingerprint:
    """What produced a result: package versions, machine, threads and git commit."""

    python: str
    packages: dict
    cpu: str
    cores: int
    threads: int
    commit: str

    def __str__(self) -> str:
        pk = ", ".join(f"{k} {v}" for k, v in self.packages.items())
        return (f"python {self.python} | {pk}\n"
                f"cpu: {self.cpu} | cores {self.cores} | torch threads {self.threads} | commit {self.commit}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CODE_PATHS = ("lib", "scripts", "pyproject.toml", "environment.yml", "Makefile")  # what computes the results


def _git_commit(here: Path | None = None) -> str:
    """The checkout's commit, ``+dirty`` when the *code* differs from it (:data:`CODE_PATHS`): the figures,
    caches, ledgers and notebooks a run writes are its outputs, not changes to what it ran."""
    here = here or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=5, check=False).stdout.strip() or str(here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               cwd=top, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def fingerprint() -> Fingerprint:
    """Collect the environment fingerprint printed at the top of every notebook."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return Fingerprint(python=platform.python_version(), packages=versions, cpu=_cpu_name(),
                       cores=os.cpu_count() or 1, threads=torch.get_num_threads(), commit=_git_commit())


def fingerprint_dict() -> dict:
    """:func:`fingerprint` as a plain dict (for JSON result files)."""
    return asdict(fingerprint())

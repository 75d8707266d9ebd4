"""Render data/claims/*.csv (full-profile ledger rows) into the README's claims table and data/timings.csv into
its time table (`make claims`)."""

from pathlib import Path

from detdesign import timings
from detdesign.claims import render_readme, replace_between

ROOT = Path(__file__).resolve().parents[1]
TIMES = ("<!-- timings:start -->", "<!-- timings:end -->")

if __name__ == "__main__":
    readme = ROOT / "README.md"
    render_readme(readme, ROOT / "data" / "claims")
    readme.write_text(replace_between(readme.read_text(), *TIMES, timings.to_markdown(), str(readme)))
    print(f"claims and time tables in {readme} rendered from data/claims and data/timings.csv")

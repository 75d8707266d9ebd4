"""Render data/claims/*.csv (full-profile ledger rows) into the README's claims table (`make claims`)."""

from pathlib import Path

from detdesign.claims import render_readme

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    render_readme(ROOT / "README.md", ROOT / "data" / "claims")
    print(f"claims table in {ROOT / 'README.md'} rendered from {ROOT / 'data' / 'claims'}")

"""Render data/claims/*.csv (full-profile ledger rows) into the README's per-paper summary, its claims table and the
figure of every claim (figures/claims_overview.png), and data/timings.csv into its time table (`make claims`)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from detdesign import timings
from detdesign.claims import figure, load_all, render_readme, replace_between
from detdesign.plotting import savefig, set_style

ROOT = Path(__file__).resolve().parents[1]
TIMES = ("<!-- timings:start -->", "<!-- timings:end -->")

if __name__ == "__main__":
    readme = ROOT / "README.md"
    render_readme(readme, ROOT / "data" / "claims")
    readme.write_text(replace_between(readme.read_text(), *TIMES, timings.to_markdown(), str(readme)))
    set_style()
    png = savefig(figure.draw(load_all(ROOT / "data" / "claims")), "claims_overview", "full")
    print(f"claims and time tables in {readme} rendered from data/claims and data/timings.csv; figure {png.name}")

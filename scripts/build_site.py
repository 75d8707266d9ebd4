"""Build the teaching site (`make site`): the executed, published notebooks as static HTML pages plus a landing page
with the claims table (legend: yes / partly / no / inconclusive / not tested) and the figures.

Built with nbconvert (the `basic` template: cell HTML without scripts) inside a page of our own, so a page needs
nothing from the network: no MathJax, no require.js, no fonts. Equations are converted at build time from the
notebooks' LaTeX to MathML (latex2mathml), which browsers render natively; an equation that does not convert
fails the build, naming the notebook and the LaTeX. Output: build/site/index.html, build/site/<notebook>.html,
build/site/figures/*.png. Open build/site/index.html in a browser.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat
from latex2mathml.converter import convert as tex_to_mathml
from nbconvert import HTMLExporter
from pygments.formatters import HtmlFormatter

from detdesign.claims import load_all, preconditions_text

ROOT = Path(__file__).resolve().parents[1]
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
LEGEND = {"yes": "the claim holds on our data, with the interval and preconditions stated",
          "partly": "part of the claim holds, part does not (the note says which)",
          "no": "a test that could have said yes said no",
          "inconclusive": "the test could not decide (a precondition failed or the interval straddles the threshold)",
          "not tested": "the claim is listed but this companion does not test it"}
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; line-height: 1.5; color: #1f2328; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; }
img { max-width: 100%; }
.jp-InputPrompt, .jp-OutputPrompt { display: none; }
.jp-Cell { margin: 0.8rem 0; }
.jp-OutputArea-output pre { background: none; border-left: 3px solid #d0d7de; }
.holds-yes { background: #dafbe1; } .holds-partly { background: #fff8c5; } .holds-no { background: #ffebe9; }
.holds-inconclusive { background: #eaeef2; } .holds-not-tested { background: #f6f8fa; }
.gallery figure { display: inline-block; width: 31%; margin: 0.5%; vertical-align: top; }
.gallery figcaption { font-size: 0.8rem; }
math[display="block"] { display: block; margin: 0.6rem 0; }
"""


class MathError(ValueError):
    """A LaTeX fragment of a notebook that does not convert to MathML."""


SIZING = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![a-zA-Z])")  # MathML stretches delimiters by itself


TEXT = re.compile(r"\\text\{([^}]*)\}")


def _normalise(tex: str) -> str:
    """Rewrite the few LaTeX idioms latex2mathml does not know into ones it does (same rendering)."""
    tex = SIZING.sub("", tex)
    return TEXT.sub(lambda m: "\\text{" + m.group(1).replace("\\_", "_") + "}", tex)


def _mathml(tex: str, display: bool, where: str) -> str:
    try:
        out = tex_to_mathml(_normalise(tex).strip(), display="block" if display else "inline")
    except Exception as err:  # latex2mathml raises many types; all mean the same thing here
        raise MathError(f"{where}: the equation {tex!r} does not convert to MathML ({err})") from err
    if "\\" in re.sub(r"<[^>]+>", "", out):
        raise MathError(f"{where}: the equation {tex!r} holds a LaTeX command MathML conversion does not know")
    return out


def math_to_mathml(markdown: str, where: str) -> str:
    """Replace ``$...$`` and ``$$...$$`` outside code by MathML (code spans and fenced blocks are kept)."""
    parts, last = [], 0
    for code in CODE.finditer(markdown):
        parts.append(_convert(markdown[last:code.start()], where))
        parts.append(code.group(0))
        last = code.end()
    parts.append(_convert(markdown[last:], where))
    return "".join(parts)


def _convert(text: str, where: str) -> str:
    return MATH.sub(lambda m: _mathml(m.group(1) or m.group(2), m.group(1) is not None, where), text)


def page(title: str, body: str, nav: str) -> str:
    style = CSS + HtmlFormatter(style="default").get_style_defs(".highlight")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head>\n"
            f"<body><nav>{nav}</nav>\n{body}\n</body></html>\n")


def notebook_page(path: Path, nav: str) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = math_to_mathml(cell.source, path.name)
    body, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    return page(path.stem, body, nav)


def claims_table(claims_dir: Path) -> str:
    df = load_all(claims_dir)
    if df.empty:
        return "<p><em>No claims recorded yet: run <code>make reproduce PROFILE=full</code>.</em></p>"
    head = ("<tr><th>notebook</th><th>claim</th><th>paper says</th><th>we measured</th><th>preconditions</th>"
            "<th>holds?</th><th>note</th></tr>")
    rows = []
    for r in df.itertuples():
        measured = f"{r.we_measured} ({r.interval})" if r.interval else r.we_measured
        cls = "holds-" + str(r.holds).replace(" ", "-")
        cells = [f'<a href="{html.escape(r.notebook)}.html">{html.escape(r.notebook)}</a>',
                 html.escape(f"{r.claim_id} ({r.paper})"), html.escape(str(r.paper_says)), html.escape(measured),
                 html.escape(preconditions_text(r.preconditions)), f'<b>{html.escape(str(r.holds))}</b>',
                 html.escape(str(r.note))]
        rows.append(f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def landing(notebooks: list[Path], claims_dir: Path, figures: list[Path], nav: str) -> str:
    legend = "".join(f'<tr class="holds-{k.replace(" ", "-")}"><td><b>{k}</b></td><td>{html.escape(v)}</td></tr>'
                     for k, v in LEGEND.items())
    links = "".join(f'<li><a href="{p.stem}.html">{p.stem}</a></li>' for p in notebooks)
    gallery = "".join(f'<figure><a href="figures/{f.name}"><img src="figures/{f.name}" alt="{f.stem}" '
                      f'loading="lazy"></a><figcaption>{f.stem}</figcaption></figure>' for f in figures)
    body = (f"<h1>detdesign</h1><p>A Jupyter-first companion that tests the claims of Zen-NAS, MAE-DET, "
            f"EfficientNet/EfficientDet and DynamicDet. Each page is an executed notebook of the full profile.</p>"
            f"<h2>Notebooks</h2><ol>{links}</ol><h2>Claims</h2><table>{legend}</table>"
            f"{claims_table(claims_dir)}<h2>Figures</h2><div class=\"gallery\">{gallery}</div>")
    return page("detdesign", body, nav)


def build(notebooks_dir: Path, claims_dir: Path, figures_dir: Path, out: Path) -> list[Path]:
    """Write the site into ``out`` (replaced); return the pages written."""
    notebooks = sorted(notebooks_dir.glob("[0-9]*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks under {notebooks_dir}")
    figures = sorted(figures_dir.glob("*.png"))
    shutil.rmtree(out, ignore_errors=True)
    (out / "figures").mkdir(parents=True)
    for fig in figures:
        shutil.copy2(fig, out / "figures" / fig.name)
    nav = '<a href="index.html">home</a>' + "".join(
        f'<a href="{p.stem}.html">{p.stem.split("_")[0]}</a>' for p in notebooks)
    pages = [out / "index.html"]
    pages[0].write_text(landing(notebooks, claims_dir, figures, nav))
    for nb in notebooks:
        target = out / f"{nb.stem}.html"
        target.write_text(notebook_page(nb, nav))
        pages.append(target)
    return pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--claims", type=Path, default=ROOT / "data" / "claims")
    ap.add_argument("--figures", type=Path, default=ROOT / "figures")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    args = ap.parse_args()
    pages = build(args.notebooks, args.claims, args.figures, args.out)
    print(f"site: {len(pages)} pages in {args.out} (open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the teaching site (`make site`): the executed, published notebooks as static HTML pages, a landing page
that answers "which claims of each paper hold" (the per-paper summary and the figure of every claim, how to run
it, the notebooks, a gallery captioned from the README) and a claims page (the full ledger with its legend).

Built with nbconvert (the `basic` template: cell HTML without scripts) inside a page of our own, so a page needs
nothing from the network: no MathJax, no require.js, no fonts. Equations are converted at build time from the
notebooks' LaTeX to MathML (latex2mathml), which browsers render natively; an equation that does not convert
fails the build, naming the notebook and the LaTeX. Output: build/site/index.html, build/site/<notebook>.html,
build/site/claims.html, build/site/figures/*.png. Open build/site/index.html in a browser.
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

from detdesign.claims import load_all, preconditions_text, summary
from detdesign.outputs import published_notebooks

ROOT = Path(__file__).resolve().parents[1]
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
LEGEND = {"yes": "the claim holds on our data, with the interval and preconditions stated",
          "partly": "part of the claim holds, part does not (the note says which)",
          "no": "a test that could have said yes said no",
          "inconclusive": "the test could not decide (a precondition failed or the interval straddles the threshold)",
          "schedule-dependent": "the answer changed between the schedule S and the doubled one (a finding)",
          "descriptive": "deciding would need more seeds or networks than the budget (the size is stated)",
          "not tested": "the claim is listed but this companion does not test it"}
CAPTION = re.compile(r"!\[[^\]]*\]\(figures/([\w.-]+)\.png\)\s*([^|]+)")  # README cell: ![alt](figures/x.png) caption
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5rem; line-height: 1.5; color: #1f2328; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; }
img { max-width: 100%; }
table { display: block; max-width: 100%; overflow-x: auto; }
.jp-OutputArea-output, .jp-RenderedHTMLCommon { max-width: 100%; overflow-x: auto; }
.verdict-yes { color: #1a7f37; } .verdict-partly { color: #9a6700; } .verdict-no { color: #cf222e; }
.verdict-inconclusive, .verdict-descriptive, .verdict-schedule-dependent, .verdict-not-tested { color: #57606a; }
.jp-InputPrompt, .jp-OutputPrompt { display: none; }
.jp-Cell { margin: 0.8rem 0; }
.jp-OutputArea-output pre { background: none; border-left: 3px solid #d0d7de; }
.holds-yes { background: #dafbe1; } .holds-partly { background: #fff8c5; } .holds-no { background: #ffebe9; }
.holds-inconclusive { background: #eaeef2; } .holds-not-tested { background: #f6f8fa; }
.holds-schedule-dependent { background: #fbefff; } .holds-descriptive { background: #ddf4ff; }
.gallery figure { display: inline-block; width: 31%; margin: 0.5%; vertical-align: top; }
.gallery figcaption { font-size: 0.8rem; }
math[display="block"] { display: block; margin: 0.6rem 0; font-size: 1.2em; }
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


def summary_html(df) -> str:
    """The per-paper summary (:mod:`detdesign.claims.summary`) as HTML: a heading with the counts per paper, one line
    per claim with its verdict and, for an undecided one, its reason."""
    if df.empty:
        return "<p><em>No claims recorded yet: run <code>make reproduce PROFILE=full</code>.</em></p>"
    out = []
    for paper, tally, n, rows in summary.papers(df):
        out.append(f"<h3>{html.escape(paper)}</h3><p>{n} claims: {', '.join(tally)}</p><ul>")
        for r in rows.itertuples():
            cls = "verdict-" + str(r.holds).replace(" ", "-")
            why = html.escape(summary.why(r))
            out.append(f'<li><b class="{cls}">{html.escape(r.holds)}</b> <code>{html.escape(r.claim_id)}</code>: '
                       f'{html.escape(summary.short(r.paper_says))}{why}</li>')
        out.append("</ul>")
    return "".join(out)


def captions(readme: Path) -> dict[str, str]:
    """Figure name -> its caption in the README's figure table (the gallery shows these, not file names)."""
    if not readme.is_file():
        return {}
    return {m.group(1): " ".join(m.group(2).split()) for m in CAPTION.finditer(readme.read_text())}


def notebook_title(path: Path) -> str:
    """A notebook's first markdown heading (the nav and the list of notebooks show it)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return re.sub(r"[*_`$]", "", line.lstrip("#").strip())
    return path.stem


def _gallery(figures: list[Path], caps: dict[str, str], notebooks: list[Path]) -> str:
    """Captioned figures first; another figure says which notebook made it, linking there."""
    stems = {p.stem.split("_")[0]: p.stem for p in notebooks}
    items = []
    for f in sorted(figures, key=lambda f: (f.stem not in caps, f.stem)):
        if f.stem in caps:
            cap = html.escape(caps[f.stem])
        else:
            nb = stems.get(f.stem.split("_")[0].rstrip("u"), "")
            cap = f'a figure of <a href="{nb}.html">notebook {html.escape(nb.split("_")[0])}</a>' if nb else \
                "the figure of every claim" if f.stem == "claims_overview" else "a published figure"
        items.append(f'<figure><a href="figures/{f.name}"><img src="figures/{f.name}" alt="{html.escape(f.stem)}" '
                     f'loading="lazy"></a><figcaption>{cap}</figcaption></figure>')
    return "".join(items)


HOW_TO_RUN = ("<h2>How to run this</h2><p>In a clone of the repository: <code>make reproduce</code> runs every "
              "notebook (the <code>quick</code> profile; <code>PROFILE=full</code> replays the published results "
              "from the committed caches) and <code>make test</code> runs the tests; <code>make lab</code> opens "
              "the notebooks in JupyterLab. The repository's README says more.</p>")


def landing(notebooks: list[Path], claims_dir: Path, figures: list[Path], nav: str, caps: dict[str, str]) -> str:
    df = load_all(claims_dir)
    links = "".join(f'<li><a href="{p.stem}.html">{html.escape(notebook_title(p))}</a></li>' for p in notebooks)
    overview = ('<p><a href="figures/claims_overview.png"><img src="figures/claims_overview.png" '
                'alt="the figure of every claim" loading="lazy"></a></p>'
                if any(f.stem == "claims_overview" for f in figures) else "")
    body = (f"<h1>detdesign</h1><p>A Jupyter-first companion that tests the claims of Zen-NAS, MAE-DET, "
            f"EfficientNet/EfficientDet and DynamicDet. Each page is an executed notebook of the full profile.</p>"
            f"<h2>Which claims hold</h2>{summary_html(df)}<p>Every claim with its measurement, interval, "
            f"preconditions and note: <a href=\"claims.html\">the claims table</a>. The figure: each claim's measured "
            f"value and 95% interval against its threshold (dashed), coloured by verdict.</p>{overview}"
            f"{HOW_TO_RUN}<h2>Notebooks</h2><ol>{links}</ol>"
            f"<h2>Figures</h2><div class=\"gallery\">{_gallery(figures, caps, notebooks)}</div>")
    return page("detdesign", body, nav)


def claims_page(claims_dir: Path, nav: str) -> str:
    legend = "".join(f'<tr class="holds-{k.replace(" ", "-")}"><td><b>{k}</b></td><td>{html.escape(v)}</td></tr>'
                     for k, v in LEGEND.items())
    return page("detdesign claims", f"<h1>Claims</h1><table>{legend}</table>{claims_table(claims_dir)}", nav)


def _nav_name(path: Path) -> str:
    """``01 BN rescaling``-style short names: the number and the file name's words."""
    num, _, rest = path.stem.partition("_")
    return f"{num} {rest.replace('_', ' ')}"


def build(notebooks_dir: Path, claims_dir: Path, figures_dir: Path, out: Path) -> list[Path]:
    """Write the site into ``out`` (replaced); return the pages written."""
    notebooks = published_notebooks(notebooks_dir)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks under {notebooks_dir}")
    figures = sorted(figures_dir.glob("*.png"))
    shutil.rmtree(out, ignore_errors=True)
    (out / "figures").mkdir(parents=True)
    for fig in figures:
        shutil.copy2(fig, out / "figures" / fig.name)
    nav = '<a href="index.html">home</a><a href="claims.html">claims</a>' + "".join(
        f'<a href="{p.stem}.html" title="{html.escape(notebook_title(p))}">{html.escape(_nav_name(p))}</a>'
        for p in notebooks)
    pages = [out / "index.html", out / "claims.html"]
    pages[0].write_text(landing(notebooks, claims_dir, figures, nav, captions(ROOT / "README.md")))
    pages[1].write_text(claims_page(claims_dir, nav))
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

"""`make site` builds a static site of the published notebooks that works offline: every page loads in headless
Chromium with no console error and no failed request, its images load, and its equations render as MathML."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from detdesign.outputs import published_notebooks

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _builder():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_equations_convert_and_bad_latex_names_the_notebook():
    site = _builder()
    out = site.math_to_mathml(r"Zen: $\log\Phi$ and `$not math$` and $$\big\lVert x \big\rVert$$", "x.ipynb")
    assert out.count("<math") == 2 and "`$not math$`" in out and 'display="block"' in out
    with pytest.raises(site.MathError, match=r"x.ipynb: the equation '\\\\frob"):
        site.math_to_mathml(r"$\frob{x}$", "x.ipynb")


@pytest.mark.browser
def test_site_pages_load_offline_with_images_and_equations(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip("no /usr/bin/chromium -- site browser test not run")
    from playwright.sync_api import sync_playwright

    pages = _builder().build(REPO / "notebooks", REPO / "data" / "claims", REPO / "figures", tmp_path / "site")
    assert [p.name for p in pages[:2]] == ["index.html", "claims.html"]
    assert len(pages) == 2 + len(published_notebooks(REPO / "notebooks"))
    problems = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for path in pages:
            page, errors = browser.new_page(viewport={"width": 1400, "height": 900}), []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("requestfailed", lambda r, errors=errors: errors.append(f"failed: {r.url}"))
            page.goto(path.as_uri(), wait_until="load")
            page.evaluate("() => Promise.all([...document.images].map(i => { i.loading = 'eager';"
                          " return i.complete ? 1 : new Promise(r => { i.onload = i.onerror = r; }); }))")
            broken = page.evaluate("() => [...document.images].filter(i => !(i.naturalWidth > 0))"
                                   ".map(i => i.getAttribute('alt') || i.src.slice(0, 60))")
            maths = page.evaluate("() => [...document.querySelectorAll('math')].map(m => {"
                                  " const r = m.getBoundingClientRect(); return [r.width, r.height]; })")
            external = page.evaluate("() => [...document.querySelectorAll('script[src], link[href]')]"
                                     ".map(e => e.src || e.href).filter(u => /^https?:/.test(u))")
            images = page.evaluate("() => document.images.length")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            stems = page.evaluate("() => [...document.querySelectorAll('figcaption')].map(c => c.textContent)"
                                  ".filter(t => /^[0-9]{2}[a-z]?_[a-z0-9_]+$/.test(t))")
            flat = [w for w, h in maths if not (w > 0 and h > 0)]
            bad = errors + [f"broken image {b}" for b in broken] + [f"{len(flat)} equations not rendered"] * bool(
                flat) + [f"external resource {u}" for u in external]
            if path.name not in ("index.html", "claims.html") and not maths:
                bad.append("no equations")  # every notebook opens with the paper's equations
            if not images and path.name != "claims.html":
                bad.append("no images")
            if width > 1400:
                bad.append(f"page {width} px wide in a 1,400-px window")  # wide tables scroll inside themselves
            if stems:
                bad.append(f"figures captioned with file names: {stems[:3]}")
            if bad:
                problems[path.name] = bad
            page.close()
        browser.close()
    assert not problems, problems


def test_landing_page_answers_which_claims_hold_and_captions_from_the_readme(tmp_path):
    site = _builder()
    pages = site.build(REPO / "notebooks", REPO / "data" / "claims", REPO / "figures", tmp_path / "site")
    index = pages[0].read_text()
    assert "<h2>Which claims hold</h2>" in index and "<h3>DynamicDet</h3>" in index
    assert index.index("Which claims hold") < index.index("<h2>Notebooks</h2>") < index.index("<h2>Figures</h2>")
    assert "How to run this" in index and 'href="claims.html"' in index
    caps = site.captions(REPO / "README.md")
    assert caps and all(html_escape(c) in index for c in caps.values())
    assert "<table" not in index.split("<h2>Figures</h2>")[0]  # the long table lives on its own page
    claims = pages[1].read_text()
    assert all(f"<b>{v}</b>" in claims for v in site.LEGEND) and "schedule-dependent" in site.LEGEND


def html_escape(text: str) -> str:
    import html

    return html.escape(text)

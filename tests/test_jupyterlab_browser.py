"""JupyterLab in a real browser: open 00_tour, run all cells, save, and check the saved notebook; then open
01_bn_rescaling, run it, move its depth slider and see the figure change.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright from PyPI (never `playwright install`).
In CI (CI=true) a missing Chromium is a failure; on a developer machine it is a visible skip.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _wait_for_server(base: str, token: str, proc, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            _get(f"{base}/api/status?token={token}")
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("jupyter lab did not answer on its port in time")


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]"
        ".map(e => e.textContent); return p.length > 0 && !p.some(t => t.includes('*')) &&"
        " p.filter(t => /\\d/.test(t)).length >= document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell').length; }", timeout=300_000)


def _move_a_slider(page, base: str, token: str) -> tuple[str, str]:
    """Open 01, run it, set the depth slider from 12 to 24 through its readout; the figure's bytes before/after."""
    page.goto(f"{base}/lab/tree/01_bn_rescaling.ipynb?reset&token={token}")
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=120_000)
    _run_all(page)
    slider = page.locator(".widget-slider", has_text="depth").first
    slider.scroll_into_view_if_needed()
    output = page.locator(".widget-interact .jp-OutputArea-output img").first
    output.wait_for(timeout=60_000)
    before = output.get_attribute("src")
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("24")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(old) => { const i = document.querySelector('.widget-interact .jp-OutputArea-output img');"
        " return i && i.getAttribute('src') !== old; }", arg=before, timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab_01_slider.png"), full_page=False)
    return before, output.get_attribute("src")


@pytest.mark.browser
def test_tour_runs_in_jupyterlab(tmp_path, isolated_outputs):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium) -- browser test not run")
    from playwright.sync_api import sync_playwright

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in ("00_tour.ipynb", "01_bn_rescaling.ipynb"):
        shutil.copy(REPO / "notebooks" / name, nb_dir)
    port, token = _free_port(), "detdesign-test-token"
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env = {**env, "DETDESIGN_PROFILE": "smoke", "DETDESIGN_PROGRESS": "0", "DETDESIGN_WIDGETS": "1",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jrt")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb_dir}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyter.log", "w")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        _wait_for_server(base, token, proc)
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(str(tmp_path / "chrome-profile"),
                                                        executable_path=CHROMIUM, headless=True, args=FLAGS,
                                                        viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            page.goto(f"{base}/lab/tree/00_tour.ipynb?reset&token={token}")
            status = page.locator(".jp-StatusBar-Widget", has_text="Idle")
            status.first.wait_for(timeout=120_000)  # the kernel is connected and idle
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            page.wait_for_function(
                "() => { const p = [...document.querySelectorAll('.jp-InputPrompt')].map(e => e.textContent);"
                " return p.length > 0 && !p.some(t => t.includes('*')) && p.filter(t => /\\d/.test(t)).length"
                " >= document.querySelectorAll('.jp-CodeCell').length; }", timeout=240_000)
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_00_tour.png"), full_page=False)
            before, after = _move_a_slider(page, base, token)
            ctx.close()
        assert before and after and before != after, "moving the depth slider redrew the figure"
        saved = _get(f"{base}/api/contents/00_tour.ipynb?token={token}&content=1")["content"]
        code = [c for c in saved["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        assert code and all(c["execution_count"] for c in code), "every code cell ran"
        silent = [c for c in code if "parameters" in c["metadata"].get("tags", [])
                  or "".join(c["source"]).startswith("if P.assert_claims")]
        quiet = ["".join(c["source"])[:60] for c in code if c not in silent and not c["outputs"]]
        assert len(silent) == 2 and not quiet, quiet
        kinds = {k for c in code for o in c["outputs"] for k in o.get("data", {})}
        assert "image/png" in kinds, "the figures were drawn"
        errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, errors
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

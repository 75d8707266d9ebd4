"""The ``detdesign`` console command: installed as a console script, each sub-command does what --help says."""

from importlib.metadata import entry_points

import pytest

from detdesign.cli import main
from detdesign.proxies import list_proxies


def test_the_console_script_is_installed():
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("detdesign") == "detdesign.cli:main"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("proxies", "backbones", "score", "claims", "run"))


def test_proxies_lists_the_registry(capsys):
    assert main(["proxies"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list_proxies()


def test_score_prints_the_library_value(capsys):
    from detdesign.arch import ZenNet
    from detdesign.detection import RESNET18_LIKE
    from detdesign.proxies import compute

    assert main(["score", "resnet18_like", "--proxy", "zen", "--repeats", "2", "--seed", "3"]) == 0
    want = compute("zen", ZenNet(RESNET18_LIKE, num_classes=10), seed=3, repeats=2).value
    assert capsys.readouterr().out.startswith(f"zen = {want:.6g} (SD")


def test_bad_values_print_one_line_with_the_fix(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["score", "resnet18_like", "--proxy", "zenn"])
    assert exit_.value.code == 2 and "did you mean 'zen'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", "resnet18_like", "--proxy", "snip"])
    assert "needs a batch of real data" in capsys.readouterr().err


def test_claims_prints_the_per_paper_summary(capsys):
    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    assert "**Zen-NAS**:" in out and "**DynamicDet**:" in out


def test_run_hands_over_to_the_notebook_runner(capsys):
    assert main(["run", "--profile", "smoke", "--only", "no-such-notebook"]) == 2  # the runner: nothing matches
    with pytest.raises(SystemExit):
        main(["run", "--profile", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from detdesign import claims, plotting


def _rows():
    return [claims.Claim("t-1", "Paper", "x is 1", "x = 1.0", "yes", "note | with pipe")]


def test_record_writes_per_profile(isolated_outputs):
    df = claims.record("99_test", _rows(), "smoke")
    path = isolated_outputs / "runs" / "smoke" / "claims" / "99_test.csv"
    assert path.is_file() and df.iloc[0]["profile"] == "smoke"
    assert claims.load_all(path.parent).iloc[0]["we_measured"] == "x = 1.0"


def test_invalid_claims():
    with pytest.raises(ValueError, match="holds"):
        claims.Claim("a", "P", "s", "m", "maybe")
    with pytest.raises(ValueError):
        claims.record("x", [], "smoke")
    with pytest.raises(TypeError):
        claims.record("x", ["row"], "smoke")


def test_render_readme_between_markers(tmp_path, isolated_outputs):
    claims.record("99_test", _rows(), "full")
    readme = tmp_path / "README.md"
    s0, s1 = claims.summary.MARKERS
    readme.write_text(f"intro\n{s0}\n{s1}\n{claims.START}\nold\n{claims.END}\nouter\n")
    text = claims.render_readme(readme, isolated_outputs / "data" / "claims")
    assert "\nold\n" not in text and "x = 1.0" in text and "note \\| with pipe" in text
    assert text.index(s0) < text.index(s1) < text.index(claims.START)  # the per-paper summary renders too
    assert text.startswith("intro\n") and text.endswith("outer\n")
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        claims.render_readme(readme, tmp_path)


def test_empty_ledger_renders_placeholder(tmp_path):
    assert "no claims recorded yet" in claims.to_markdown(claims.load_all(tmp_path))


def test_savefig_is_byte_stable(isolated_outputs):
    plotting.set_style()

    def draw():
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [1, 0, 3])
        path = plotting.savefig(fig, "t_fig", "quick")
        plt.close(fig)
        return path.read_bytes(), path.with_suffix(".svg").read_bytes()

    first, second = draw(), draw()
    assert first == second
    assert (isolated_outputs / "runs" / "quick" / "figures" / "t_fig.png").is_file()
    with pytest.raises(ValueError):
        plotting.savefig(plt.figure(), "bad/name", "quick")

import json
import os

import pytest

from detdesign.outputs import outputs, repo_root
from detdesign.results import ResultCache


def test_full_profile_writes_committed_folders_others_under_runs(isolated_outputs):
    assert repo_root() == isolated_outputs
    full, quick = outputs("full"), outputs("quick")
    assert full.figures == isolated_outputs / "figures" and full.claims == isolated_outputs / "data" / "claims"
    assert quick.figures == isolated_outputs / "runs" / "quick" / "figures"
    with pytest.raises(ValueError):
        outputs("nope")


def test_seeds_do_not_overwrite_each_other_and_outputs_follow_the_working_folder(isolated_outputs, tmp_path,
                                                                                  monkeypatch):
    from detdesign.outputs import output_home
    from detdesign.run import Run

    assert outputs("full", 1).figures == isolated_outputs / "runs" / "full-seed1" / "figures"
    assert outputs("quick", 2).claims == isolated_outputs / "runs" / "quick-seed2" / "claims"
    assert outputs("quick", 1) != outputs("quick", 2)
    with pytest.raises(TypeError, match="seed"):
        outputs("quick", 1.5)
    # no DETDESIGN_HOME and a working folder outside any checkout: outputs go to ./detdesign-runs there
    monkeypatch.delenv("DETDESIGN_HOME")
    elsewhere = tmp_path / "my-analysis"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert output_home() == elsewhere / "detdesign-runs"
    assert outputs("full").figures == elsewhere / "detdesign-runs" / "runs" / "full" / "figures"
    assert "my-analysis/detdesign-runs" in Run("quick", seed=1).describe()


def test_cache_roundtrip_and_resume(tmp_path):
    path = tmp_path / "c" / "rows.json"
    cache = ResultCache(path)
    calls = []
    row = cache.get_or_compute("a", lambda: calls.append(1) or {"x": 1.5, "bad": float("inf")})
    assert row == {"x": 1.5, "bad": float("inf")}
    again = ResultCache(path)  # a rerun reads what was written
    assert "a" in again and len(again) == 1
    assert again.get_or_compute("a", lambda: calls.append(1) or {"x": 0}) == row
    assert calls == [1]
    assert list(again.to_frame().columns) == ["bad", "x"]


def test_interrupted_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "rows.json"
    cache = ResultCache(path)
    cache.put("a", {"v": 1})
    before = path.read_text()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed during write")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        cache.put("b", {"v": 2})
    monkeypatch.undo()
    assert path.read_text() == before
    assert not list(tmp_path.glob(".rows.json.*.tmp")), "the temp file must be removed"
    # a stale half-written temp file from a killed process is ignored, and cleaned by the next (locked) write;
    # opening never deletes it, since it could belong to a live writer in another process
    (tmp_path / ".rows.json.abc.tmp").write_text('{"a": {"v": 9')
    reopened = ResultCache(path)
    assert reopened.get("a") == {"v": 1} and "b" not in reopened
    assert list(tmp_path.glob("*.tmp"))
    reopened.put("c", {"v": 3})
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_cache_and_bad_rows(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="delete it"):
        ResultCache(path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="JSON object"):
        ResultCache(path)
    cache = ResultCache(tmp_path / "ok.json")
    with pytest.raises(TypeError):
        cache.put("k", [1, 2])
    with pytest.raises(ValueError):
        cache.put("", {"a": 1})


def test_time_records_merge_and_a_cached_full_rerun_never_lowers_a_full_time(tmp_path):
    from detdesign.timings import load_timings, record_times, to_markdown

    path = tmp_path / "timings.csv"
    row = {"notebook": "01_x", "profile": "full", "seconds": 400.0, "measured": "d", "machine": "m", "note": ""}
    record_times([row, {**row, "profile": "quick", "seconds": 20.0}], path)
    record_times([{**row, "seconds": 15.0}], path)  # a rerun on filled caches
    df = load_timings(path)
    assert df.set_index("profile").loc["full", "seconds"] == 400.0 and len(df) == 2
    record_times([{**row, "seconds": 390.0}], path, fresh=True)
    assert load_timings(path).set_index("profile").loc["full", "seconds"] == 390.0
    with pytest.raises(ValueError, match="needs exactly"):
        record_times([{"notebook": "x"}], path)
    md = to_markdown(load_timings(path))
    assert "| 01_x | 20 s | 6.5 min |" in md and "| total | incomplete | incomplete |" in md  # the real notebooks

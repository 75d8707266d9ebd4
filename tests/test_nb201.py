import pytest
from scipy import stats

from detdesign.arch import format_nb201, from_naslib_key, parse_nb201
from detdesign.data import load_naslib_zc, load_nb201


def test_cell_string_round_trip():
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    cell = parse_nb201(s)
    assert format_nb201(cell) == s and cell.edge(3, 2) == "skip_connect"


@pytest.mark.parametrize("bad, msg", [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op"),
    ("|none~0|+|none~0|none~1|", "3 nodes"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'op~0'"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
])
def test_bad_cell_strings(bad, msg):
    with pytest.raises(ValueError, match=msg):
        parse_nb201(bad)


def test_naslib_key_mapping():
    cell = from_naslib_key("(4, 3, 3, 3, 2, 3)")
    assert format_nb201(cell) == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+"
                                  "|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    with pytest.raises(ValueError):
        from_naslib_key((0, 1, 2))


def test_tables_join_exactly(root):
    nb = load_nb201()
    assert len(nb) == 15625 and nb["arch"].is_unique
    best = nb.loc[nb["c10_test"].idxmax()]
    assert best["index"] == 6111 and best["c10_test"] == pytest.approx(94.373, abs=1e-3)
    zc = load_naslib_zc("cifar10")
    assert len(zc) == 491
    joined = zc.merge(nb, on="arch", how="inner", validate="one_to_one")
    assert len(joined) == 491
    ok = joined[~joined["naslib_failed"]]
    rho = stats.spearmanr(ok["val_accuracy"], ok["c10_test"]).statistic
    assert rho > 0.97
    with pytest.raises(ValueError, match="valid"):
        load_naslib_zc("mnist")

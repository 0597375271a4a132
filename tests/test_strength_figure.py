"""plots.save_strength_figure: accuracy against mean ||z' - z||, two curves and the other arms as points."""

import pytest

from hlwb import plots


def _rows():
    rows = []
    for proto, base in (("linear", 85.0), ("knn", 80.0)):
        for curve, arms in (("chunk 0 fixed", [("hl_scaled_0.5", 3.4), ("hl_random_paper", 6.8)]),
                            ("all chunks", [("flat_matched", 6.8), ("flat_matched_0.5", 3.4)])):
            rows += [{"arm": a, "protocol": proto, "mean_delta": d, "mean": base + d / 10, "ci_low": base,
                      "ci_high": base + 1, "curve": curve} for a, d in arms]
        rows.append({"arm": "gaussian", "protocol": proto, "mean_delta": 1.57, "mean": base, "ci_low": base - 1,
                     "ci_high": base + 0.5, "curve": None})
    return rows


def test_strength_figure_draws_both_curves_and_the_points(tmp_path):
    paths = plots.save_strength_figure(_rows(), tmp_path / "strength", title="strength")
    assert [p.suffix for p in paths] == [".png", ".svg", ".html"] and all(p.stat().st_size > 0 for p in paths)
    html = paths[-1].read_text()
    for name in ("chunk 0 fixed", "all chunks", "gaussian", "hl_scaled_0.5"):
        assert name in html
    svg = paths[1].read_text()
    assert "gaussian" in svg and "mean ||z′ − z||" in svg  # the point's label and the axis


def test_strength_figure_refuses_rows_it_cannot_place(tmp_path):
    bad = _rows()
    bad[0] = {**bad[0], "curve": "some chunks"}
    with pytest.raises(ValueError, match="curve 'some chunks' of arm 'hl_scaled_0.5'"):
        plots.save_strength_figure(bad, tmp_path / "s")
    with pytest.raises(ValueError, match="lacks mean_delta"):
        plots.save_strength_figure([{k: v for k, v in _rows()[0].items() if k != "mean_delta"}], tmp_path / "s")
    assert not list(tmp_path.iterdir())  # nothing written

import re

import pandas as pd
import pytest

from hlwb import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check(paths, stem):
    """Two files, ``<stem>.png`` (a real PNG) and ``<stem>.html`` (plotly, div id = stem name,
    loading the plotly.min.js written next to it)."""
    png, html = paths
    assert png == stem.with_suffix(".png") and html == stem.with_suffix(".html")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    text = html.read_text()
    assert f'id="{stem.name}"' in text and "Plotly.newPlot" in text
    assert re.search(r'<script[^>]* src="plotly\.min\.js"', text)  # include_plotlyjs="directory": offline, same folder
    assert (html.parent / "plotly.min.js").stat().st_size > 100_000
    return text


def test_save_curves(tmp_path):
    stem = tmp_path / "figs" / "loss_curve"  # the folder is created
    text = _check(plots.save_curves({"simclr": ([0, 1, 2], [3.0, 2.0, 1.5]), "byol": ([0, 1, 2], [1.0, 0.5, 0.2])},
                                    stem, xlabel="step", ylabel="loss", title="pretraining", hline=0.5), stem)
    assert "simclr" in text and "byol" in text and "pretraining" in text
    marked = _check(plots.save_curves({"hl": ([0, 1, 2], [0.2, 0.9, 1.9])}, tmp_path / "m", xlabel="s", ylabel="y",
                                      marks={"hl": (1, 0.9)}), tmp_path / "m")
    assert "hl: selected" in marked


def test_save_sigma_agreement_plot(tmp_path):
    curves = {g: {f"chunk {k}": ([0.0, 1.0, 3.0], [1.0, 0.9 - 0.1 * k, 0.5 - 0.1 * k], [0.0, 0.05, 0.05])
                  for k in range(2)} for g in ("biggan", "stylegan")}
    stem = tmp_path / "sigma_agreement"
    text = _check(plots.save_sigma_agreement_plot(curves, stem, level=0.9), stem)
    assert "biggan: chunk 0" in text and "stylegan: chunk 1" in text


def test_save_grouped_bars(tmp_path):
    acc = pd.DataFrame([{"method": m, "strategy": s, "target": t, "mean": 0.5 + 0.1 * i, "std": 0.02}
                        for m in ("simclr", "byol") for i, s in enumerate(("real", "hl_random"))
                        for t in ("digits", "letters")])
    acc = acc[~((acc.method == "byol") & (acc.strategy == "hl_random") & (acc.target == "letters"))]  # a gap
    stem = tmp_path / "transfer_linear_top1"
    text = _check(plots.save_grouped_bars(acc, stem), stem)
    assert "hl_random" in text and "letters" in text


def test_save_heatmap(tmp_path):
    idx = pd.MultiIndex.from_tuples([("simclr", "hl_random"), ("byol", "synth")], names=["method", "strategy"])
    table = pd.DataFrame([[1.5, -2.0], [float("nan"), 0.3]], index=idx, columns=["digits", "letters"])
    stem = tmp_path / "transfer_gain_over_real"
    text = _check(plots.save_heatmap(table, stem, title="gain"), stem)
    assert '"type":"heatmap"' in text.replace(" ", "")


def test_save_scatter(tmp_path):
    frame = pd.DataFrame({"effective_rank": [3.0, 5.0, 8.0, 2.0], "mean_linear_top1": [0.6, 0.7, 0.8, 0.5],
                          "strategy": ["real", "real", "hl_random", "synth"]})
    stem = tmp_path / "transfer_effective_rank_vs_accuracy"
    text = _check(plots.save_scatter(frame, "effective_rank", "mean_linear_top1", "strategy", stem,
                                     title="rank vs accuracy"), stem)
    assert "hl_random" in text and "synth" in text


@pytest.mark.parametrize("n", [1, 3])
def test_one_plotly_js_per_folder_shared_by_every_figure(tmp_path, n):
    for i in range(n):
        plots.save_curves({"a": ([0, 1], [0, 1])}, tmp_path / f"c{i}", xlabel="x", ylabel="y")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        sorted([f"c{i}.png" for i in range(n)] + [f"c{i}.html" for i in range(n)] + ["plotly.min.js"])

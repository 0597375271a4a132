import re

import pandas as pd
import pytest
import torch

from hlwb import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _acc():
    """A :func:`hlwb.transfer.accuracy_table`-shaped frame (fractions): one method, two targets, a gap."""
    rows = [{"method": "simclr", "strategy": s, "target": t, "mean": 0.6 + 0.05 * i, "std": 0.01 * (i + 1),
             "n_seeds": 3} for i, s in enumerate(("real", "gaussian", "hl_random_paper", "hl_random_paper (fixed)"))
            for t in ("digits", "letters")]
    rows += [{"method": "reference", "strategy": r, "target": t, "mean": m, "std": 0.0, "n_seeds": 1}
             for r, m in (("pixels", 0.55), ("random", 0.5), ("oracle", 0.9)) for t in ("digits", "letters")]
    acc = pd.DataFrame(rows)
    return acc[~((acc.strategy == "gaussian") & (acc.target == "letters"))]


def _check(paths, stem):
    """Three files, ``<stem>.png`` (a real PNG), ``<stem>.svg`` beside it and ``<stem>.html``
    (plotly, div id = stem name, loading the plotly.min.js written next to it)."""
    png, svg, html = paths
    assert (png, svg, html) == (stem.with_suffix(".png"), stem.with_suffix(".svg"), stem.with_suffix(".html"))
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert svg.read_text().lstrip().startswith("<?xml")
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


def test_save_transfer_dots(tmp_path):
    stem = tmp_path / "transfer_linear_top1"
    text = _check(plots.save_transfer_dots(_acc(), stem), stem)
    assert "hl_random_paper (fixed)" in text and "letters" in text and "raw pixels" in text


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
        sorted([f"c{i}.{ext}" for i in range(n) for ext in ("png", "svg", "html")] + ["plotly.min.js"])


# ---- one style, one colour per arm, words on the axes, accuracies in % ----


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib and plotly figures the plots functions draw, kept for inspection."""
    figs, pfigs = [], []
    save, write = plots.save_figure, plots._write_html
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem, svg=True: (figs.append(fig), save(fig, stem, svg))[1])
    monkeypatch.setattr(plots, "_write_html", lambda pfig, stem: (pfigs.append(pfig), write(pfig, stem))[1])
    return figs, pfigs


def _png_dpi(path):
    """The resolution in a PNG's pHYs chunk (pixels per metre -> dots per inch), read by hand."""
    import struct

    data = path.read_bytes()
    i = data.index(b"pHYs")
    ppm_x, ppm_y, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1, "pHYs unit is the metre"
    return ppm_x * 0.0254, ppm_y * 0.0254


def test_charts_are_png_at_200_dpi_with_a_parseable_svg_beside(tmp_path, drawn):
    import xml.etree.ElementTree as ET

    from PIL import Image

    png, svg, _ = plots.save_curves({"real": ([0, 1], [50.0, 60.0])}, tmp_path / "c", xlabel="step", ylabel="y")
    assert min(_png_dpi(png)) >= 199.5
    fig = drawn[0][0]
    assert Image.open(png).size == (round(fig.get_figwidth() * 200), round(fig.get_figheight() * 200))
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "step" in svg.read_text()  # svg.fonttype none: text stays text


def test_image_grids_stay_raster_only(tmp_path):
    grid = torch.zeros(2, 3, 1, 8, 8)
    path = plots.save_hierarchy_figure(grid, ["a", "b", "c"], tmp_path / "h.png", title="t")
    assert path == tmp_path / "h.png" and min(_png_dpi(path)) >= 199.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png"]


def test_every_figure_uses_the_package_style(tmp_path, drawn):
    plots.save_curves({"real": ([0, 1], [50.0, 60.0])}, tmp_path / "c", xlabel="step", ylabel="y", title="t")
    plots.save_transfer_dots(_acc(), tmp_path / "d")
    for fig in drawn[0]:
        ax = fig.axes[0]
        assert ax.title.get_fontsize() == 11 and ax.yaxis.label.get_fontsize() == 10
        assert ax.get_xticklabels()[0].get_fontsize() == 9


def test_a_strategy_has_one_colour_in_every_figure(tmp_path, drawn):
    from matplotlib.colors import to_hex

    want = plots.COLORS["hl_random_paper"]
    figs, pfigs = drawn
    # hl_random_paper is the third line here, the second arm from the top in the dots, a scatter group
    plots.save_curves({"real": ([1, 5], [40.0, 50.0]), "gaussian": ([1, 5], [41.0, 52.0]),
                       "hl_random_paper": ([1, 5], [45.0, 55.0])}, tmp_path / "c", xlabel="shots", ylabel="top-1 (%)")
    plots.save_transfer_dots(_acc(), tmp_path / "d")
    frame = pd.DataFrame({"effective_rank": [3.0, 5.0], "mean_linear_top1": [60.0, 70.0],
                          "strategy": ["synth", "hl_random_paper"]})
    plots.save_scatter(frame, "effective_rank", "mean_linear_top1", "strategy", tmp_path / "s")
    curve = {ln.get_label(): to_hex(ln.get_color()) for ln in figs[0].axes[0].lines}
    assert curve["hl_random_paper"] == want and curve["real"] == plots.COLORS["real"]
    ax = figs[1].axes[0]
    arms = [t.get_text() for t in ax.get_yticklabels()]
    dots = {arms[round(ln.get_ydata()[0])]: to_hex(ln.get_color()) for ln in ax.lines if ln.get_marker() == "o"}
    assert dots["hl_random_paper"] == dots["hl_random_paper (fixed)"] == want
    assert dots["real"] == curve["real"]
    groups = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in figs[2].axes[0].collections}
    assert groups["hl_random_paper"] == want
    # plotly: the same colour on the same names
    line = {t.name: t.line.color for t in pfigs[0].data}
    assert line["hl_random_paper"] == want
    assert {t.marker.color for t in pfigs[1].data if t.name.startswith("hl_random_paper")} == {want}
    assert pfigs[2].layout.template is not None
    assert {t.marker.color for t in pfigs[2].data if t.name == "hl_random_paper"} == {want}


def test_chunks_have_their_own_fixed_colours():
    assert [plots.color(f"chunk {k}: x") for k in range(4)] == [plots.COLORS[f"chunk{k}"] for k in range(4)]
    assert plots.color("chunk2") == plots.color("chunk 2: fine")
    assert not {plots.COLORS[f"chunk{k}"] for k in range(4)} & {plots.COLORS[s] for s in ("real", "hl_learned")}


def test_unknown_names_are_coloured_by_a_hash_of_the_name_not_their_order():
    import hashlib

    name = "biggan"
    assert plots.color(name) == plots.FALLBACK[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(plots.FALLBACK)]
    names = [f"run{i}" for i in range(6)]
    assert plots.palette(names) == plots.palette(names[::-1])
    # two unknown names whose hashes collide still get two colours in one figure
    first = {}  # hashed colour -> the first name that has it
    for n in (f"n{i}" for i in range(100)):
        if plots.color(n) in first:
            a, b = first[plots.color(n)], n
            break
        first[plots.color(n)] = n
    assert plots.color(a) == plots.color(b)
    pal = plots.palette([a, b])
    assert pal[a] != pal[b] and plots.palette([b, a]) == pal
    # known names never move
    assert plots.palette(["real", "zzz"])["real"] == plots.COLORS["real"]


def test_label_map_turns_column_names_into_words():
    assert plots.label("mean_linear_top1") == "linear probe top-1 (%)"
    assert plots.label("effective_rank") == "effective rank"
    assert plots.label("uniformity") == "uniformity (lower: more uniform)"
    assert plots.label("some_new_metric") == "some new metric"


def test_scatter_and_heatmap_axes_say_words_not_column_names(tmp_path, drawn):
    frame = pd.DataFrame({"effective_rank": [3.0, 5.0], "mean_linear_top1": [60.123, 70.456],
                          "strategy": ["real", "synth"]})
    plots.save_scatter(frame, "effective_rank", "mean_linear_top1", "strategy", tmp_path / "s")
    idx = pd.MultiIndex.from_tuples([("simclr", "hl_random"), ("byol", "synth")], names=["method", "strategy"])
    heat = pd.DataFrame([[1.5, -2.0], [0.2, 0.3]], index=idx,
                        columns=pd.Index(["fashion_mnist", "shift_blur"], name="target"))
    plots.save_heatmap(heat, tmp_path / "h", value_label="gain (points)")
    figs, pfigs = drawn
    ax = figs[0].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("effective rank", "linear probe top-1 (%)")
    assert pfigs[0].layout.xaxis.title.text == "effective rank"
    assert pfigs[0].layout.yaxis.title.text == "linear probe top-1 (%)"
    assert ":.2f" in pfigs[0].data[0].hovertemplate  # hover rounded
    ax = figs[1].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("target", "method / views")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Fashion-MNIST (in-domain)", "shift: blur"]
    assert "+.1f" in pfigs[1].data[0].hovertemplate


def test_agreement_figures_are_in_percent_with_integer_chunk_ticks(tmp_path, drawn):
    rows = [{"chunk": k, "name": f"c{k}", "agreement": a, "ci_low": a - 0.05, "ci_high": a + 0.02, "ci95": 0.05}
            for k, a in enumerate((0.3, 0.6, 0.9))]
    plots.save_agreement_plot({"biggan": rows}, tmp_path / "a")
    curves = {"biggan": {f"chunk {k}: c{k}": ([0.0, 0.1, 1.0], [1.0, 0.8 - 0.1 * k, 0.4], [0.0, 0.05, 0.05])
                         for k in range(2)}}
    plots.save_sigma_agreement_plot(curves, tmp_path / "s", level=0.9)
    figs, pfigs = drawn
    for fig, line_y in ((figs[0], [30.0, 60.0, 90.0]), (figs[1], [100.0, 80.0, 40.0])):
        ax = fig.axes[0]
        assert ax.get_ylabel().endswith("(%)")
        ys = ax.lines[0].get_ydata()
        assert list(ys) == pytest.approx(line_y)
        assert all(0 <= v <= 100 for ln in ax.lines for v in ln.get_ydata())
    assert all(float(t).is_integer() for t in figs[0].axes[0].get_xticks())
    level = [ln for ln in figs[1].axes[0].lines if ln.get_linestyle() == "--"]
    assert level and level[0].get_ydata()[0] == pytest.approx(90.0)
    assert "σ" in figs[1].axes[0].get_xlabel()
    assert list(pfigs[0].data[0].y) == pytest.approx([30.0, 60.0, 90.0])


def test_transfer_dots_in_percent_with_reference_lines_and_the_legend_outside(tmp_path, drawn):
    acc = _acc()
    plots.save_transfer_dots(acc, tmp_path / "d")
    fig = drawn[0][0]
    ax = fig.axes[0]  # digits
    assert ax.get_title() == "digits" and ax.get_xlabel().endswith("(%)")
    arms = [t.get_text() for t in ax.get_yticklabels()]
    assert arms[-1] == "real" and "pixels" not in arms and "oracle" not in arms  # references are lines
    dots = {arms[round(ln.get_ydata()[0])]: ln.get_xdata()[0] for ln in ax.lines if ln.get_marker() == "o"}
    want = acc[(acc.target == "digits") & (acc.method == "simclr")].set_index("strategy")["mean"] * 100
    assert dots == pytest.approx(want.to_dict())
    vlines = sorted(ln.get_xdata()[0] for ln in ax.lines if ln.get_marker() in ("None", "", None))
    assert vlines == pytest.approx([50.0, 55.0])
    assert {"raw pixels", "random trunk"} <= {t.get_text().strip() for t in ax.texts}
    assert all(a.get_legend() is None for a in fig.axes) and fig.legends  # no legend over the data
    assert len(drawn[1][0].data) == 7  # 4 arms on digits, 3 on letters (the gap)
    with pytest.raises(ValueError, match="one method"):
        plots.save_transfer_dots(pd.concat([acc, acc.assign(method="byol")]), tmp_path / "e")

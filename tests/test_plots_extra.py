import re
from pathlib import Path

import numpy as np
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


def test_every_figure_uses_the_package_style(tmp_path, kept):
    plots.save_curves({"real": ([0, 1], [50.0, 60.0])}, tmp_path / "c", xlabel="step", ylabel="y", title="t")
    plots.save_transfer_dots(_acc(), tmp_path / "d")
    for fig in kept[0]:
        ax = fig.axes[0]
        assert ax.title.get_fontsize() == 11 and ax.yaxis.label.get_fontsize() == 10
        assert ax.get_xticklabels()[0].get_fontsize() == 9


def test_a_strategy_has_one_colour_in_every_figure(tmp_path, kept):
    from matplotlib.colors import to_hex

    want = plots.COLORS["hl_random_paper"]
    figs, pfigs = kept
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


def test_scatter_and_heatmap_axes_say_words_not_column_names(tmp_path, kept):
    frame = pd.DataFrame({"effective_rank": [3.0, 5.0], "mean_linear_top1": [60.123, 70.456],
                          "strategy": ["real", "synth"]})
    plots.save_scatter(frame, "effective_rank", "mean_linear_top1", "strategy", tmp_path / "s")
    idx = pd.MultiIndex.from_tuples([("simclr", "hl_random"), ("byol", "synth")], names=["method", "strategy"])
    heat = pd.DataFrame([[1.5, -2.0], [0.2, 0.3]], index=idx,
                        columns=pd.Index(["fashion_mnist", "shift_blur"], name="target"))
    plots.save_heatmap(heat, tmp_path / "h", value_label="gain (points)")
    figs, pfigs = kept
    ax = figs[0].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("effective rank", "linear probe top-1 (%)")
    assert pfigs[0].layout.xaxis.title.text == "effective rank"
    assert pfigs[0].layout.yaxis.title.text == "linear probe top-1 (%)"
    assert ":.2f" in pfigs[0].data[0].hovertemplate  # hover rounded
    ax = figs[1].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("target", "method / views")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Fashion-MNIST (in-domain)", "shift: blur"]
    assert "+.1f" in pfigs[1].data[0].hovertemplate


def test_agreement_figures_are_in_percent_with_integer_chunk_ticks(tmp_path, kept):
    rows = [{"chunk": k, "name": f"c{k}", "agreement": a, "ci_low": a - 0.05, "ci_high": a + 0.02, "ci95": 0.05}
            for k, a in enumerate((0.3, 0.6, 0.9))]
    plots.save_agreement_plot({"biggan": rows}, tmp_path / "a")
    curves = {"biggan": {f"chunk {k}: c{k}": ([0.0, 0.1, 1.0], [1.0, 0.8 - 0.1 * k, 0.4], [0.0, 0.05, 0.05])
                         for k in range(2)}}
    plots.save_sigma_agreement_plot(curves, tmp_path / "s", level=0.9)
    figs, pfigs = kept
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


def test_transfer_dots_in_percent_with_reference_lines_and_the_legend_outside(tmp_path, kept):
    acc = _acc()
    plots.save_transfer_dots(acc, tmp_path / "d")
    fig = kept[0][0]
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
    assert len(kept[1][0].data) == 7  # 4 arms on digits, 3 on letters (the gap)
    with pytest.raises(ValueError, match="one method"):
        plots.save_transfer_dots(pd.concat([acc, acc.assign(method="byol")]), tmp_path / "e")


# ---- figures without defects: every legend entry visible, the right colour map, intervals, sizes ----


@pytest.fixture
def kept(monkeypatch):
    """The matplotlib and plotly figures the plots functions draw, kept for inspection and not written
    (fast: no 200-dpi PNG, SVG or HTML); each matplotlib figure on an Agg canvas, to measure text on."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figs, pfigs = [], []

    def keep(fig, stem, svg=True):
        plots._pyplot().close(fig)  # as save_figure does: pyplot lets go of it, the test keeps it
        FigureCanvasAgg(fig)
        figs.append(fig)
        return [Path(stem).with_suffix(".png")] + ([Path(stem).with_suffix(".svg")] if svg else [])

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(plots, "_write_html", lambda pfig, stem: (pfigs.append(pfig), Path(stem).with_suffix(".html"))[1])
    return figs, pfigs


def _visible(artist) -> bool:
    """A drawn artist shows something: a line with two distinct finite points, or markers on one."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    if isinstance(artist, Line2D):
        xy = np.column_stack([np.asarray(artist.get_xdata(), float), np.asarray(artist.get_ydata(), float)])
        xy = xy[np.isfinite(xy).all(axis=1)]
        marker = artist.get_marker() not in (None, "", "None", " ", "none") and artist.get_markersize() > 0
        line = artist.get_linestyle() not in ("None", "", " ", "none") and len(np.unique(xy, axis=0)) >= 2
        return artist.get_visible() and len(xy) > 0 and (marker or line)
    if isinstance(artist, Collection):
        return artist.get_visible() and len(artist.get_offsets()) > 0
    return artist.get_visible()


def assert_every_legend_entry_visible(fig):
    """Each legend entry stands for something on the figure that can be seen: the artists drawn
    under its label (a line of one point without a marker cannot), or, for a proxy handle, the
    handle itself. Returns the legend texts."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    texts = []
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            name = text.get_text()
            texts.append(name)
            drawn = [a for ax in fig.axes for a in ax.get_children() if getattr(a, "get_label", None)
                     and a.get_label() == name and a is not handle]
            assert any(_visible(a) for a in drawn) if drawn else _visible(handle), \
                f"legend entry {name!r} stands for nothing visible"
    return texts


def assert_no_text_over_another_axes(fig):
    """No tick label, title or text of one axes overlaps the area of another (e.g. a row label over a
    neighbouring image, a label under the colour bar)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [(ax, ax.get_window_extent(r)) for ax in fig.axes if ax.get_visible()]
    for ax in fig.axes:
        texts = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.title, ax.xaxis.label, ax.yaxis.label]
        for t in (t for t in texts if t.get_visible() and t.get_text()):
            tb = t.get_window_extent(r)
            for other, ob in boxes:
                if other is not ax:
                    assert not tb.overlaps(ob), f"text {t.get_text()!r} overlaps another axes"


def _curves_with_one_point():
    """The calibration figure's shape: two 4-point series and four of one point (one width / batch each)."""
    x4 = [64_000, 128_000, 256_000, 512_000]
    return {"linear, w16 b128": (x4, [84.9, 85.7, 87.5, 87.7]), "kNN k20, w16 b128": (x4, [82.0, 83.5, 85.4, 86.3]),
            "linear, w32 b128": ([256_000], [88.6]), "kNN k20, w32 b128": ([256_000], [85.0]),
            "linear, w16 b64": ([64_000], [84.7]), "kNN k20, w16 b64": ([64_000], [82.1])}


def test_single_point_series_are_visible_dots_in_both_backends(tmp_path, kept):
    curves = _curves_with_one_point()
    plots.save_curves(curves, tmp_path / "calibration_curve", xlabel="pairs", ylabel="top-1 (%)", hline=84.63)
    figs, pfigs = kept
    texts = assert_every_legend_entry_visible(figs[0])
    assert set(curves) <= set(texts)  # all six series, four of them single points
    assert {t.name: t.mode for t in pfigs[0].data if t.name in curves} == {n: "lines+markers" for n in curves}
    long = {"a": (list(range(40)), [float(i) for i in range(40)])}  # many points: a plain line, no markers
    plots.save_curves(long, tmp_path / "long", xlabel="x", ylabel="y")
    assert figs[1].axes[0].lines[0].get_marker() in ("None", None, "")
    assert pfigs[1].data[0].mode == "lines"
    with pytest.raises(ValueError, match="one y per x"):
        plots.save_curves({"a": ([0, 1], [0.0])}, tmp_path / "bad", xlabel="x", ylabel="y")


def test_threshold_and_selection_marks_are_in_the_legend(tmp_path, kept):
    x = list(range(0, 16_000, 640))
    curves = {f"chunk {k}: c{k}": (x, [0.1 * k + 1e-4 * v for v in x]) for k in range(4)}
    plots.save_curves(curves, tmp_path / "walkers_infonce_biggan", xlabel="samples seen", ylabel="InfoNCE",
                      hline=1.75, hline_label="reference stop: InfoNCE 1.75",
                      marks={n: (x[5], c[1][5]) for n, c in curves.items()}, marks_label="selected snapshot")
    plots.save_curves({"a": ([0, 1], [0.0, 1.0])}, tmp_path / "plain", xlabel="x", ylabel="y", hline=0.5)
    figs, pfigs = kept
    texts = assert_every_legend_entry_visible(figs[0])
    assert texts.count("reference stop: InfoNCE 1.75") == 1 and texts.count("selected snapshot") == 1
    assert len(texts) == 6  # 4 walkers, the threshold, the marks (once, not once per walker)
    names = {t.name: t for t in pfigs[0].data}
    assert "reference stop: InfoNCE 1.75" in names and names["reference stop: InfoNCE 1.75"].showlegend is not False
    assert list(names["reference stop: InfoNCE 1.75"].y) == [1.75, 1.75]
    assert sum(n.endswith(": selected snapshot") for n in names) == 4
    # a reference line without a label still says what it is: its value
    assert "reference level 0.5" in assert_every_legend_entry_visible(figs[1])


def test_every_chart_function_has_visible_legend_entries_and_no_text_over_other_axes(tmp_path, kept):
    rows = [{"chunk": k, "name": f"c{k}", "agreement": a, "ci95": 0.05} for k, a in enumerate((0.3, 0.6))]
    plots.save_agreement_plot({"biggan": rows, "stylegan": rows}, tmp_path / "a")
    plots.save_sigma_agreement_plot({"biggan": {"chunk 0": ([0.0, 1.0], [1.0, 0.5], [0.0, 0.1])}}, tmp_path / "s")
    plots.save_curves(_curves_with_one_point(), tmp_path / "c", xlabel="x", ylabel="y", hline=1.0)
    plots.save_transfer_dots(_acc(), tmp_path / "d")
    plots.save_scatter(pd.DataFrame({"effective_rank": [3.0, 5.0], "mean_linear_top1": [60.0, 70.0],
                                     "strategy": ["real", "synth"]}), "effective_rank", "mean_linear_top1",
                       "strategy", tmp_path / "sc")
    plots.save_intervals([("hl_random", 1.0, -0.5, 2.5), ("gaussian", -1.0, -2.0, 0.1)], tmp_path / "i", xlabel="d")
    plots.save_gain_over_real(_acc_seeds(), tmp_path / "g")
    plots.save_heatmap(_auroc(), tmp_path / "h", fmt="{:.0f}", center=50, limits=(0, 100))
    plots.save_hierarchy_figure(torch.zeros(3, 4, 1, 8, 8), ["anchor", "chunk_0 global", "chunk_1", "chunk_2"],
                                tmp_path / "hier.png", row_titles=["seed 0", "seed 1", "seed 2"])
    figs = kept[0]
    assert len(figs) == 9
    for fig in figs:
        assert_every_legend_entry_visible(fig)
        if len(fig.axes) > 1:  # panels, image grids, colour bars: text could sit over a neighbour
            assert_no_text_over_another_axes(fig)


def _auroc():
    """ood_table rows pivoted as notebook 08 does, in %: AUROC near 0 (the documented failure), 50, 100."""
    idx = pd.MultiIndex.from_tuples([("gcrl_a0_b1 (simclr)", "knn_k5"), ("gcrl_a1_b0", "log_likelihood"),
                                     ("gcrl_a1_b1", "likelihood_ratio")], names=["encoder", "score"])
    return pd.DataFrame([[98.0, 90.0], [1.0, 50.0], [3.0, 60.0]], index=idx,
                        columns=pd.Index(["digits", "shift/gaussian_noise3"], name="ood_set"))


def test_auroc_map_is_white_at_chance_and_names_rows_in_words(tmp_path, kept):
    plots.save_heatmap(_auroc(), tmp_path / "ood_auroc", fmt="{:.0f}", value_label="AUROC (%)", center=50,
                       limits=(0, 100))
    figs, pfigs = kept
    ax = figs[0].axes[0]
    im = ax.images[0]
    rgb = {v: np.array(im.to_rgba(v)[:3]) for v in (0.0, 1.0, 50.0, 98.0, 100.0)}
    assert rgb[50.0].min() > 0.9  # chance is white
    assert rgb[1.0][0] > 0.35 and rgb[1.0][1:].max() < 0.2  # AUROC 1 %: a strong red, not neutral
    assert rgb[98.0][2] > 0.3 and rgb[98.0][0] < 0.2  # AUROC 98 %: a strong blue
    assert np.abs(rgb[0.0] - rgb[50.0]).max() > 0.6  # the documented failure stands out from chance
    assert im.norm.vmin == 0 and im.norm.vmax == 100
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["GCRL α=0, β=1 (simclr) / kNN distance (k=5)", "GCRL α=1, β=0 / log-likelihood",
                    "GCRL α=1, β=1 / likelihood ratio"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["digits", "shift: Gaussian noise (severity 3)"]
    heat = pfigs[0].data[0]
    assert (heat.zmin, heat.zmax) == (0, 100)
    assert next(c for c in heat.colorscale if c[0] == 0.5)[1] == "#f7f7f7"  # plotly: white at 50 too
    with pytest.raises(ValueError, match="strictly inside"):
        plots.save_heatmap(_auroc(), tmp_path / "bad", center=50, limits=(50, 100))


def test_default_heatmap_stays_diverging_around_zero(tmp_path, kept):
    table = pd.DataFrame([[2.0, -4.0]], index=["simclr"], columns=["digits", "letters"])
    plots.save_heatmap(table, tmp_path / "h")
    im = kept[0][0].axes[0].images[0]
    assert (im.norm.vmin, im.norm.vcenter, im.norm.vmax) == (-4.0, 0.0, 4.0)
    assert kept[1][0].data[0].y == ("simclr",)  # an unknown row name is kept as written


def _acc_seeds():
    """accuracy_table rows (fractions) of the sweep's shape: simclr on 3 seeds for real and two arms, one arm
    on 1 seed; byol on 1 seed throughout; a reference row."""
    rows = []
    for method, arms in (("simclr", {"real": (0.80, 0.01, 3), "gaussian": (0.76, 0.012, 3),
                                     "hl_random_paper": (0.805, 0.02, 3), "hl_learned": (0.79, 0.0, 1)}),
                         ("byol", {"real": (0.75, 0.0, 1), "gaussian": (0.74, 0.0, 1)})):
        for arm, (m, s, n) in arms.items():
            for i, t in enumerate(("digits", "letters")):
                rows.append({"method": method, "strategy": arm, "target": t, "mean": m + 0.01 * i, "std": s,
                             "n_seeds": n})
    rows.append({"method": "reference", "strategy": "pixels", "target": "digits", "mean": 0.7, "std": 0.0,
                 "n_seeds": 1})
    return pd.DataFrame(rows)


def test_gain_table_intervals_agree_with_welch_t_test():
    from scipy import stats

    g = plots.gain_table(_acc_seeds())
    assert not (g.strategy == "real").any() and not (g.method == "reference").any()
    assert len(g) == 8  # simclr: 3 arms x 2 targets, byol: 1 arm x 2 targets
    row = g[(g.method == "simclr") & (g.strategy == "gaussian") & (g.target == "digits")].iloc[0]
    assert row.gain == pytest.approx(-4.0) and (row.n_seeds, row.n_baseline) == (3, 3)
    for r in g[(g.method == "simclr") & (g.n_seeds > 1)].itertuples():
        arm = _acc_seeds().set_index(["method", "strategy", "target"]).loc[("simclr", r.strategy, r.target)]
        real = _acc_seeds().set_index(["method", "strategy", "target"]).loc[("simclr", "real", r.target)]
        p = stats.ttest_ind_from_stats(100 * arm["mean"], 100 * arm["std"], 3, 100 * real["mean"], 100 * real["std"], 3,
                                       equal_var=False).pvalue
        assert (r.low > 0 or r.high < 0) == (p < 0.05)  # the 95 % interval excludes 0 iff Welch's test rejects
        assert r.low < r.gain < r.high and r.gain - r.low == pytest.approx(r.high - r.gain)
    one = g[g.n_seeds == 1]
    assert len(one) == 4 and one.low.isna().all() and one.high.isna().all()  # no interval from one seed


def test_gain_over_real_has_no_real_rows_shows_intervals_and_says_the_seeds(tmp_path, kept):
    plots.save_gain_over_real(_acc_seeds(), tmp_path / "transfer_gain_over_real", title="gain over real")
    figs, pfigs = kept
    ax = figs[0].axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["simclr / gaussian  (3 seeds)", "simclr / hl_random_paper  (3 seeds)",
                    "byol / gaussian  (1 seed)", "simclr / hl_learned  (1 seed vs 3 on real)"]
    assert not any("/ real" in r for r in rows)  # the all-zero rows are gone
    cells = [t.get_text() for t in ax.texts]
    assert "−" not in "".join(cells) and "-4.0\n±2.5" in cells  # the gain, then its interval's half-width
    assert sum("±" in c for c in cells) == 4 and len(cells) == 8  # intervals on the 3-seed rows only
    g = plots.gain_table(_acc_seeds()).set_index(["method", "strategy", "target"])
    bold = sorted((t.get_text(), t.get_fontweight() == "bold") for t in ax.texts)
    want = sorted((f"{r.gain:+.1f}" + ("" if np.isnan(r.low) else f"\n±{(r.high - r.low) / 2:.1f}"),
                   bool(r.low > 0 or r.high < 0)) for r in g.itertuples())
    assert bold == want and sum(b for _, b in bold) == 2  # bold: the interval excludes 0 (gaussian, 4 points down)
    seps = [ln.get_ydata()[0] for ln in ax.lines]
    assert seps == [1.5]  # one line between the 3-seed and the 1-seed rows
    assert pfigs[0].data[0].y == tuple(rows)
    with pytest.raises(ValueError, match="real-data encoder"):
        plots.save_gain_over_real(_acc_seeds().query("strategy != 'real'"), tmp_path / "none")


def test_figures_are_shown_at_a_readable_size(tmp_path, drawn):
    import json

    from hlwb import config

    png, *_ = plots.save_curves(_curves_with_one_point(), tmp_path / "c", xlabel="x", ylabel="y")
    fig = drawn[0][0]
    shown = plots.shown_width(png)
    assert shown == round(fig.get_figwidth() * plots.SHOWN_PPI)
    assert 9 / 72 * shown / fig.get_figwidth() >= 12  # a 9-pt tick label is at least 12 px on screen
    grid = plots.save_grid(torch.zeros(10, 1, 8, 8), tmp_path / "g.png", ncol=5)
    assert plots.shown_width(grid) == 2 * (5 * 10 + 2)  # an image grid: its own width
    nb = json.loads((config.REPO_ROOT / "notebooks" / "03_walkers.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "Image(" not in code and not re.search(r"\bwidth=\d", code)  # no hard-coded width: plots.show
    assert code.count("plots.show(") == code.count("plots.save_curves(") == 2  # both walker figures shown


def test_sigma_panels_say_what_the_dashed_level_and_the_band_are(tmp_path, kept):
    curves = {g: {"chunk 0": ([0.0, 0.1, 1.0], [1.0, 0.9, 0.4], [0.0, 0.05, 0.05])} for g in ("biggan", "stylegan")}
    plots.save_sigma_agreement_plot(curves, tmp_path / "sigma_agreement", level=0.9)
    figs, pfigs = kept
    for ax in figs[0].axes:
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["chunk 0", "90 % agreement", "shaded: 95 % interval"]
    assert_every_legend_entry_visible(figs[0])
    level = [t for t in pfigs[0].data if t.name == "90 % agreement"]
    assert len(level) == 2 and [t.showlegend for t in level] == [True, False]  # one per panel, listed once

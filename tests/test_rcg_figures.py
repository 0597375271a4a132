"""Notebook 07's figures: row labels beside (not over) the ablation grid's images, legends off the data,
the plug-in MI's log2 N ceiling drawn."""

import math

import numpy as np
import pytest
import torch

from hlwb.rcg import figures as F

ROWS = ["unconditional", "unconditional_trained", "clusters_10", "rdm_w3", "posterior_on_rep_gen", "real_reps",
        "real"]


def _rows(n: int = 64) -> list[dict]:
    out = []
    for prior in ("rdm", "sphere"):
        for j, k in enumerate((2, 8, 32)):
            for i, t in enumerate((0.01, 0.1, 1.0)):
                mi = min(math.log2(k), math.log2(n)) * (1 - i / 3)
                out.append({"prior": prior, "K": k, "T": t, "n": n, "mi_bits": mi, "rate_bits": mi + 0.1,
                            "agreement": 0.3 + 0.15 * j + 0.05 * (2 - i)})  # points fill the panel's corners
    return out


def _bbox(artist, fig):
    return artist.get_window_extent(fig.canvas.get_renderer())


def test_ablation_grid_labels_sit_beside_the_images_and_inside_the_figure():
    grid = torch.rand(len(ROWS), 5, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fig = F.ablation_grid_figure(grid, ROWS, title="RCG conditioning ablation (rows), same generator noise per column")
    fig.canvas.draw()
    images = [_bbox(ax, fig) for ax in fig.axes]
    page = fig.bbox
    try:
        for ax, name in zip(fig.axes[::5], ROWS):
            label = ax.yaxis.label
            assert label.get_text() == name and label.get_rotation() == 0  # horizontal: one row tall
            box = _bbox(label, fig)
            assert not any(box.overlaps(im) for im in images), f"row label {name!r} covers an image"
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, \
                f"row label {name!r} is clipped by the figure's edge"
            row = _bbox(ax, fig)
            assert row.y0 <= (box.y0 + box.y1) / 2 <= row.y1  # beside its own row
        title = _bbox(fig._suptitle, fig)
        assert page.x0 <= title.x0 and title.x1 <= page.x1 and not any(title.overlaps(im) for im in images)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    with pytest.raises(ValueError, match="3 row labels for 7 rows"):
        F.ablation_grid_figure(grid, ROWS[:3])


def test_agreement_legend_covers_no_point_and_names_the_references():
    refs = {"own_rep": {"agreement": 0.8}, "unconditional": {"agreement": 0.12}}
    fig = F.agreement_figure(_rows(), refs)
    fig.canvas.draw()
    try:
        (legend,) = fig.legends
        box = _bbox(legend, fig)
        labels = [t.get_text() for t in legend.get_texts()]
        assert "x's own representation" in labels and "null vector (unconditional)" in labels
        assert "log2 N = 6.00 (N = 64)" in labels
        for ax in fig.axes:
            assert not box.overlaps(_bbox(ax, fig)), "the legend lies over a panel"
            for coll in ax.collections:  # every plotted point, in display coordinates
                pts = coll.get_offset_transform().transform(coll.get_offsets())
                inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
                assert not inside.any()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_bits_figure_draws_the_log2_n_ceiling_of_the_plug_in_mi():
    fig = F.bits_figure(_rows(n=500))
    try:
        for ax in fig.axes:
            flat = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), math.log2(500))]
            assert len(flat) == 1 and flat[0].get_label().startswith("log2 N = 8.97")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_saved_figures_are_shown_at_100_px_per_inch(tmp_path):
    png = F.save_ablation_grid(torch.zeros(2, 3, 1, 32, 32), ["a", "real_reps"], tmp_path / "grid")
    from PIL import Image

    with Image.open(png) as im:
        inches = im.size[0] / 200  # hlwb.plots.DPI
    assert F.shown_width(png) == round(inches * F.SHOWN_PPI)
    png2, svg = F.save_agreement_vs_bits(_rows(), {}, tmp_path / "agreement")
    assert png2.is_file() and svg.is_file() and 800 <= F.shown_width(png2) <= 1000  # 9 in: text at its size

"""Figures of notebook 07: the ablation grid, the posterior's bits against T, agreement against bits.

Matplotlib PNG (and SVG for the charts) through :func:`hlwb.plots.save_figure` (the house style); one
panel per prior. Each ``*_figure`` function builds the figure (tests measure its layout) and its
``save_*`` twin writes it. Sizes are in inches of a figure shown at :data:`SHOWN_PPI` px per inch
(:func:`shown_width`), so text reads at its point size in the notebook.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .. import data, plots

SHOWN_PPI = 100
"""Pixels per inch of figure at which notebook 07 shows its PNGs (a 9-pt label is 12.5 px tall)."""

CELL = 0.55
"""Side (in) of one image of the ablation grid: a 32-px image shown at 55 px."""


def shown_width(path: str | Path) -> int:
    """The display width (px) of a PNG written at :data:`hlwb.plots.DPI`: :data:`SHOWN_PPI` per inch."""
    from PIL import Image

    with Image.open(path) as im:
        return round(im.size[0] / plots.DPI * SHOWN_PPI)


@plots.styled
def ablation_grid_figure(grid: torch.Tensor, row_labels: list[str], title: str = ""):
    """The conditioning ablation's samples: rows ``grid (R, C, ch, H, W)`` in [-1, 1], one labelled row
    per ablation row, same generator noise per column. Labels are horizontal, right-aligned in a
    margin of their own (constrained layout sizes it), so no label covers an image."""
    plt = plots._pyplot()
    r, c = grid.shape[:2]
    if len(row_labels) != r:
        raise ValueError(f"{len(row_labels)} row labels for {r} rows of images")
    fig, axes = plt.subplots(r, c, figsize=(2.0 + CELL * c, CELL * r + (0.6 if title else 0.1)),
                             squeeze=False, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.01, wspace=0.02, hspace=0.02)
    u8 = data.to_uint8(grid).cpu().numpy()
    for i in range(r):
        for j in range(c):
            ax = axes[i, j]
            if u8.shape[2] == 1:
                ax.imshow(u8[i, j, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            else:
                ax.imshow(u8[i, j].transpose(1, 2, 0), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            for side in ax.spines.values():
                side.set_visible(False)
        axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8, labelpad=4)
    renderer = fig.canvas.get_renderer()  # the widest label sets the margin: images keep their CELL size
    label_w = max(ax.yaxis.label.get_window_extent(renderer).width for ax in axes[:, 0]) / fig.dpi
    fig.set_figwidth(label_w + 0.25 + (CELL + 0.03) * c)
    if title:
        fig.suptitle(title, fontsize=9, wrap=True)  # wrapped to the figure's width
    return fig


@plots.styled
def save_ablation_grid(grid: torch.Tensor, row_labels: list[str], stem: str | Path, title: str = "") -> Path:
    """Write :func:`ablation_grid_figure` as ``<stem>.png``; returns its path."""
    return plots.save_figure(ablation_grid_figure(grid, row_labels, title), Path(stem), svg=False)[0]


@plots.styled
def bits_figure(rows: list[dict]):
    """Plug-in MI (solid) and rate (dashed) in bits against T (log axis), one colour per K, the log2 K
    ceilings dotted and the plug-in MI's log2 N ceiling (N inputs) dash-dotted; ``rows`` from
    :func:`hlwb.rcg.evaluation.posterior_sweep`."""
    plt = plots._pyplot()
    priors = list(dict.fromkeys(r["prior"] for r in rows))
    ks = sorted({r["K"] for r in rows})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(priors), figsize=(plots.MULTI if len(priors) > 1 else plots.SINGLE, 4.2),
                             sharey=True, squeeze=False)
    for ax, prior in zip(axes[0], priors):
        for j, k in enumerate(ks):
            sel = sorted((r for r in rows if r["prior"] == prior and r["K"] == k), key=lambda r: r["T"])
            c = cmap(j / max(1, len(ks) - 1))
            t = [r["T"] for r in sel]
            ax.plot(t, [r["mi_bits"] for r in sel], color=c, marker="o", ms=3, label=f"K = {k}")
            ax.plot(t, [r["rate_bits"] for r in sel], color=c, ls="--", lw=0.9)
            ax.axhline(math.log2(k), color=c, ls=":", lw=0.7)
        n = rows[0]["n"]
        ax.axhline(math.log2(n), color="black", ls="-.", lw=0.9, label=f"log2 N = {math.log2(n):.2f} (N = {n})")
        ax.set_xscale("log")
        ax.set_xlabel("temperature T")
        ax.set_title(f"{prior} prior", fontsize=10)
    axes[0][0].set_ylabel("bits: plug-in MI (solid), rate (dashed), log2 K (dotted)", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    return fig


@plots.styled
def save_bits_vs_temperature(rows: list[dict], stem: str | Path) -> list[Path]:
    """Write :func:`bits_figure` as ``<stem>.png`` and ``.svg``."""
    return plots.save_figure(bits_figure(rows), Path(stem))


@plots.styled
def agreement_figure(rows: list[dict], references: dict[str, dict]):
    """Oracle-label agreement between x and its rendering against the plug-in MI in bits, one
    point per (K, T), coloured by K; the generator on x's own representation and on the null vector as
    horizontal lines, the plug-in MI's log2 N ceiling as a vertical one. The legend sits outside the
    panels, so it covers no point."""
    plt = plots._pyplot()
    priors = list(dict.fromkeys(r["prior"] for r in rows))
    ks = sorted({r["K"] for r in rows})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(priors), figsize=(plots.MULTI if len(priors) > 1 else plots.SINGLE, 4.2),
                             sharey=True, squeeze=False)
    names = {"own_rep": ("x's own representation", "-"), "unconditional": ("null vector (unconditional)", "--")}
    n = rows[0]["n"]
    for ax, prior in zip(axes[0], priors):
        for j, k in enumerate(ks):
            sel = [r for r in rows if r["prior"] == prior and r["K"] == k]
            ax.scatter([r["mi_bits"] for r in sel], [100 * r["agreement"] for r in sel], s=18,
                       color=cmap(j / max(1, len(ks) - 1)), label=f"K = {k}")
        for key, (name, ls) in names.items():
            if key in references:
                ax.axhline(100 * references[key]["agreement"], color="grey", ls=ls, lw=0.9, label=name)
        ax.axvline(math.log2(n), color="black", ls="-.", lw=0.9, label=f"log2 N = {math.log2(n):.2f} (N = {n})")
        ax.set_xlabel("plug-in MI (bits)")
        ax.set_title(f"{prior} prior", fontsize=10)
    axes[0][0].set_ylabel("oracle-label agreement with x (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    return fig


@plots.styled
def save_agreement_vs_bits(rows: list[dict], references: dict[str, dict], stem: str | Path) -> list[Path]:
    """Write :func:`agreement_figure` as ``<stem>.png`` and ``.svg``."""
    return plots.save_figure(agreement_figure(rows, references), Path(stem))

"""Figures of notebook 07: the posterior's bits against T, and agreement against bits.

Matplotlib PNG and SVG through :func:`hlwb.plots.save_figure` (the house style); one panel per prior.
"""

from __future__ import annotations

import math
from pathlib import Path

from .. import plots


@plots.styled
def save_bits_vs_temperature(rows: list[dict], stem: str | Path) -> list[Path]:
    """Plug-in MI (solid) and rate (dashed) in bits against T (log axis), one colour per K, with
    the log2 K ceilings dotted; ``rows`` from :func:`hlwb.rcg.evaluation.posterior_sweep`."""
    plt = plots._pyplot()
    priors = list(dict.fromkeys(r["prior"] for r in rows))
    ks = sorted({r["K"] for r in rows})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(priors), figsize=(plots.SINGLE * len(priors), 3.8), sharey=True, squeeze=False)
    for ax, prior in zip(axes[0], priors):
        for j, k in enumerate(ks):
            sel = sorted((r for r in rows if r["prior"] == prior and r["K"] == k), key=lambda r: r["T"])
            c = cmap(j / max(1, len(ks) - 1))
            t = [r["T"] for r in sel]
            ax.plot(t, [r["mi_bits"] for r in sel], color=c, marker="o", ms=3, label=f"K = {k}")
            ax.plot(t, [r["rate_bits"] for r in sel], color=c, ls="--", lw=0.9)
            ax.axhline(math.log2(k), color=c, ls=":", lw=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("temperature T")
        ax.set_title(f"{prior} prior: MI (solid), rate (dashed), log2 K (dotted)", fontsize=9)
    axes[0][0].set_ylabel("bits")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    return plots.save_figure(fig, Path(stem))


@plots.styled
def save_agreement_vs_bits(rows: list[dict], references: dict[str, dict], stem: str | Path) -> list[Path]:
    """Oracle-label agreement between x and its rendering against the plug-in MI in bits, one
    point per (K, T), coloured by K; the unconditional and oracle-representation rows as lines."""
    plt = plots._pyplot()
    priors = list(dict.fromkeys(r["prior"] for r in rows))
    ks = sorted({r["K"] for r in rows})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(priors), figsize=(plots.SINGLE * len(priors), 3.8), sharey=True, squeeze=False)
    for ax, prior in zip(axes[0], priors):
        for j, k in enumerate(ks):
            sel = [r for r in rows if r["prior"] == prior and r["K"] == k]
            ax.scatter([r["mi_bits"] for r in sel], [100 * r["agreement"] for r in sel], s=18,
                       color=cmap(j / max(1, len(ks) - 1)), label=f"K = {k}")
        for name, ls in (("oracle", "-"), ("unconditional", "--")):
            if name in references:
                ax.axhline(100 * references[name]["agreement"], color="grey", ls=ls, lw=0.9, label=f"{name} rep")
        ax.set_xlabel("plug-in MI (bits)")
        ax.set_title(f"{prior} prior", fontsize=9)
    axes[0][0].set_ylabel("oracle-label agreement with x (%)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return plots.save_figure(fig, Path(stem))

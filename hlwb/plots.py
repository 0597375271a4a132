"""Figures written to files: PNG for papers and the README, HTML for interactivity.

Image grids are composed as arrays and encoded with PIL (fast, no figure machinery);
annotated figures use matplotlib (Agg); interactive ones plotly, written with
``include_plotlyjs="directory"`` (one offline plotly.min.js per folder) and a fixed div id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import data


def tile(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Images ``(R, C, 1, H, W)`` or ``(N, 1, H, W)`` (one row) in [-1, 1] -> uint8 (H', W')."""
    if images.ndim == 4:
        images = images.unsqueeze(0)
    r, c, _, h, w = images.shape
    u8 = data.to_uint8(images).numpy()
    out = np.full((r * (h + pad) + pad, c * (w + pad) + pad), 128, dtype=np.uint8)
    for i in range(r):
        for j in range(c):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = u8[i, j, 0]
    return out


def save_png(array: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Write a uint8 grayscale array as PNG, nearest-neighbour upscaled by ``scale``."""
    import io

    from PIL import Image

    from .checkpoint import atomic_write_bytes

    img = Image.fromarray(array)
    if scale != 1:
        img = img.resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def save_grid(images: torch.Tensor, path: str | Path, ncol: int = 10, scale: int = 2) -> Path:
    """A sample grid of ``(N, 1, H, W)`` images, ``ncol`` per row."""
    n = (len(images) // ncol) * ncol
    grid = images[:n].reshape(n // ncol, ncol, *images.shape[1:])
    return save_png(tile(grid), path, scale=scale)


def save_hierarchy_figure(grid: torch.Tensor, titles: list[str], path: str | Path,
                          title: str = "", row_titles: list[str] | None = None) -> Path:
    """A labelled image grid ``(R, C, 1, H, W)``: column titles, optional row titles.

    Notebook 01: rows = anchors, columns = anchor then chunk-k resamples (global -> fine);
    notebook 02: rows = chunks, columns = sigma.
    """
    plt = _pyplot()

    r, c = grid.shape[:2]
    fig, axes = plt.subplots(r, c, figsize=(0.8 * c, 0.8 * r + 0.6), squeeze=False)
    u8 = data.to_uint8(grid).numpy()
    for i in range(r):
        for j in range(c):
            ax = axes[i, j]
            ax.imshow(u8[i, j, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j].replace("_", "\n", 1), fontsize=6)
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 0.94 if title else 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_agreement_plot(tables: dict[str, list[dict]], stem: str | Path) -> list[Path]:
    """Oracle agreement per chunk (global -> fine), one line per generator: PNG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    pfig = go.Figure()
    for name, rows in tables.items():
        k = [r["chunk"] for r in rows]
        a = [r["agreement"] for r in rows]
        e = [r["ci95"] for r in rows]
        ax.errorbar(k, a, yerr=e, marker="o", capsize=3, label=name)
        pfig.add_trace(go.Scatter(x=[f"{r['chunk']}:{r['name']}" for r in rows], y=a, name=name,
                                  error_y={"type": "data", "array": e}, mode="lines+markers"))
    ax.set_xlabel("resampled chunk (0 = global)")
    ax.set_ylabel("oracle label agreement")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    pfig.update_layout(xaxis_title="resampled chunk (global -> fine)", yaxis_title="oracle label agreement",
                       yaxis_range=[0, 1.02], width=640, height=400, template="plotly_white")
    return [png, _write_html(pfig, stem)]


def _pyplot():
    """matplotlib.pyplot on the Agg backend (files only; safe headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _write_html(pfig, stem: Path) -> Path:
    html = stem.with_suffix(".html")
    pfig.write_html(html, include_plotlyjs="directory", full_html=True, div_id=stem.name,
                    config={"displaylogo": False})
    return html


def save_curves(curves: dict[str, tuple[list[float], list[float]]], stem: str | Path, xlabel: str,
                ylabel: str, title: str = "", hline: float | None = None,
                marks: dict[str, tuple[float, float]] | None = None) -> list[Path]:
    """Lines ``name -> (x, y)`` as a PNG (matplotlib) and an interactive HTML (plotly);
    ``marks[name] = (x, y)`` draws one marker on that line (e.g. the selected snapshot)."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    pfig = go.Figure()
    for name, (x, y) in curves.items():
        (line,) = ax.plot(x, y, label=name, lw=1.2)
        pfig.add_trace(go.Scatter(x=list(x), y=list(y), name=name, mode="lines"))
        if marks and name in marks:
            mx, my = marks[name]
            ax.plot([mx], [my], marker="o", ms=6, mfc="none", color=line.get_color())
            pfig.add_trace(go.Scatter(x=[mx], y=[my], name=f"{name}: selected", mode="markers",
                                      marker={"size": 10, "symbol": "circle-open"}))
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=0.8)
        pfig.add_hline(y=hline, line_dash="dash", line_color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    pfig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel, title=title or None, width=680, height=420,
                       template="plotly_white")
    return [png, _write_html(pfig, stem)]


def save_sigma_agreement_plot(curves: dict[str, dict[str, tuple[list[float], list[float], list[float]]]],
                              stem: str | Path, level: float = 0.9) -> list[Path]:
    """Oracle agreement vs sigma, one panel per generator, one line per chunk (with a 95 %
    band): ``curves[generator][chunk] = (sigmas, agreement, ci_half_width)``. PNG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    gens = list(curves)
    fig, axes = plt.subplots(1, len(gens), figsize=(4.2 * len(gens), 3.2), squeeze=False, sharey=True)
    pfig = make_subplots(rows=1, cols=len(gens), subplot_titles=gens, shared_yaxes=True)
    for col, (g, ax) in enumerate(zip(gens, axes[0]), start=1):
        for chunk, (s, a, e) in curves[g].items():
            a, e = np.asarray(a), np.asarray(e)
            (line,) = ax.plot(s, a, marker="o", ms=3, lw=1.2, label=chunk)
            ax.fill_between(s, a - e, a + e, color=line.get_color(), alpha=0.15)
            pfig.add_trace(go.Scatter(x=list(s), y=a.tolist(), name=f"{g}: {chunk}", mode="lines+markers",
                                      error_y={"type": "data", "array": e.tolist()}), row=1, col=col)
        ax.axhline(level, color="grey", ls="--", lw=0.8)
        pfig.add_hline(y=level, line_dash="dash", line_color="grey", row=1, col=col)
        ax.set_title(g, fontsize=9)
        ax.set_xscale("symlog", linthresh=0.02)  # the grid is log-spaced from 0.02, plus 0
        ax.set_xlim(left=0)
        ax.set_xlabel("σ (only this chunk moves)")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("oracle label agreement")
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    pfig.update_layout(yaxis_title="oracle label agreement", width=480 * len(gens), height=420,
                       template="plotly_white")
    return [png, _write_html(pfig, stem)]


def save_grouped_bars(acc, stem: str | Path, ylabel: str = "linear probe top-1") -> list[Path]:
    """One panel per target: bars per strategy, grouped by method, with seed std as error bars.
    ``acc``: a frame with columns method, strategy, target, mean, std. PNG and HTML."""
    plt = _pyplot()
    import plotly.express as px

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    targets = sorted(acc.target.unique())
    methods = list(dict.fromkeys(acc.method))
    strategies = list(dict.fromkeys(acc.strategy))
    fig, axes = plt.subplots(1, len(targets), figsize=(3.2 * len(targets), 3.2), squeeze=False)
    width = 0.8 / max(1, len(strategies))
    for ax, t in zip(axes[0], targets):
        d = acc[acc.target == t]
        for j, s in enumerate(strategies):
            vals = [d[(d.method == m) & (d.strategy == s)] for m in methods]
            ax.bar(np.arange(len(methods)) + j * width, [v["mean"].iloc[0] if len(v) else np.nan for v in vals],
                   width, yerr=[v["std"].iloc[0] if len(v) else 0 for v in vals], label=s, capsize=2)
        ax.set_xticks(np.arange(len(methods)) + 0.4 - width / 2, methods, rotation=45, fontsize=7)
        ax.set_title(t, fontsize=8)
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    pfig = px.bar(acc, x="method", y="mean", color="strategy", barmode="group", error_y="std", facet_col="target",
                  template="plotly_white", labels={"mean": ylabel})
    pfig.update_layout(width=360 * len(targets), height=420)
    return [png, _write_html(pfig, stem)]


def save_heatmap(table, stem: str | Path, title: str = "", fmt: str = "{:+.1f}") -> list[Path]:
    """A labelled heatmap of a 2-D frame (rows x columns), diverging around 0: PNG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    v = table.to_numpy(dtype=float)
    lim = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.1 * v.shape[1] + 2.5, 0.35 * v.shape[0] + 1.2))
    im = ax.imshow(v, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(v.shape[1]), table.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(v.shape[0]), [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i)
                                      for i in table.index], fontsize=7)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if np.isfinite(v[i, j]):
                ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    pfig = go.Figure(go.Heatmap(z=v, x=list(map(str, table.columns)), y=[str(i) for i in table.index],
                                colorscale="RdBu", zmid=0))
    pfig.update_layout(title=title or None, template="plotly_white", width=700, height=300 + 18 * v.shape[0])
    return [png, _write_html(pfig, stem)]


def save_scatter(frame, x: str, y: str, color: str, stem: str | Path, title: str = "") -> list[Path]:
    """Points ``frame[x]`` vs ``frame[y]`` coloured by ``frame[color]``: PNG and HTML."""
    plt = _pyplot()
    import plotly.express as px

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, d in frame.groupby(color):
        ax.scatter(d[x], d[y], s=14, label=str(name))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=6)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    pfig = px.scatter(frame, x=x, y=y, color=color, hover_data=list(frame.columns), template="plotly_white",
                      title=title or None)
    return [png, _write_html(pfig, stem)]


def save_intervals(rows: list[tuple[str, float, float, float]], stem: str | Path, xlabel: str,
                   title: str = "", zero: float = 0.0) -> list[Path]:
    """A forest plot: one row per ``(label, estimate, low, high)`` (a difference with its
    interval), top to bottom, a dashed line at ``zero``; PNG (matplotlib) and HTML (plotly)."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    labels = [r[0] for r in rows]
    est = np.array([r[1] for r in rows], dtype=float)
    lo = np.array([r[2] for r in rows], dtype=float)
    hi = np.array([r[3] for r in rows], dtype=float)
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.32 * max(1, len(rows))))
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", ms=4, capsize=3, lw=1.2)
    ax.axvline(zero, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=120)
    plt.close(fig)
    pfig = go.Figure(go.Scatter(x=est.tolist(), y=labels, mode="markers",
                                error_x={"type": "data", "symmetric": False, "array": (hi - est).tolist(),
                                         "arrayminus": (est - lo).tolist()}))
    pfig.add_vline(x=zero, line_dash="dash", line_color="grey")
    pfig.update_layout(xaxis_title=xlabel, title=title or None, width=680, height=160 + 28 * len(rows),
                       template="plotly_white", yaxis={"autorange": "reversed"})
    return [png, _write_html(pfig, stem)]

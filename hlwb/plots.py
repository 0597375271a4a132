"""Figures written to files: PNG and SVG for papers and the README, HTML for interactivity.

Every matplotlib figure is drawn under one style (:data:`STYLE`, sized for a 6-inch-wide
single panel or a 9-inch-wide multi-panel figure shown at 520-900 px) and written by
:func:`save_figure`: PNG at :data:`DPI` and, for charts, an SVG beside it. Each strategy,
reference and chunk has one colour in every figure, matplotlib and plotly alike
(:func:`color`); column names become axis titles in words with units (:func:`label`);
accuracies and agreements are drawn in %. Image grids are composed as arrays and encoded with
PIL (fast, raster only); interactive figures are plotly, written with
``include_plotlyjs="directory"`` (one offline plotly.min.js per folder) and a fixed div id.
Every legend entry stands for something visible (a series of one point is a dot; reference
lines and marks have their own entries); notebooks display figures with :func:`show`, at a
width where their text reads at its point size.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from . import data
from .checkpoint import atomic_write_bytes

# ---- one style --------------------------------------------------------------------------

DPI = 200  # PNG resolution: a 6-inch figure is 1200 px wide, sharp at 2x on a 600-px display
STYLE = {  # rcParams of every matplotlib figure (titles 11 pt, labels 10, ticks 9 at 6 in wide)
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 11, "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "lines.linewidth": 1.5, "lines.markersize": 5, "errorbar.capsize": 2,
    "figure.constrained_layout.use": True,  # legends placed "outside ..." keep the figure's size
    "svg.fonttype": "none",  # SVG text stays text: editable, searchable
    "svg.hashsalt": "hlwb",  # stable element ids: re-drawing an unchanged figure gives the same file
}
SINGLE = 6.0  # width (in) of a single-panel figure; multi-panel figures are MULTI wide
MULTI = 9.0


def _pyplot():
    """matplotlib.pyplot on the Agg backend (files only; safe headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(fn):
    """Run a figure function under :data:`STYLE` (rcParams are read when artists are made)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        _pyplot()
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def save_figure(fig, stem: str | Path, svg: bool = True) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` at :data:`DPI` and (``svg``) ``<stem>.svg`` beside it,
    each through an atomic write, then close it. Returns the paths written, PNG first."""
    stem = Path(stem)
    paths = [stem.with_suffix(".png")] + ([stem.with_suffix(".svg")] if svg else [])
    try:
        for path in paths:
            fmt = path.suffix[1:]
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
            atomic_write_bytes(path, buf.getvalue())
    finally:
        _pyplot().close(fig)
    return paths


SHOWN_PPI = 100  # px per inch of figure a notebook shows: a 9-pt tick label is 12.5 px tall, 11-pt titles 15 px


def shown_width(path: str | Path) -> int:
    """The width (px) at which a notebook shows a PNG: :data:`SHOWN_PPI` per inch of a chart (its
    DPI read from the file), so its text reads at its point size whatever the chart's width; an
    image grid without a DPI at its own width."""
    from PIL import Image

    with Image.open(path) as im:
        width, dpi = im.size[0], im.info.get("dpi")
    return round(width / dpi[0] * SHOWN_PPI) if dpi and dpi[0] > 0 else width


def show(path: str | Path) -> None:
    """Display a figure file in a notebook at :func:`shown_width`."""
    from IPython.display import Image, display

    display(Image(filename=str(path), width=shown_width(path)))


def _write_html(pfig, stem: Path) -> Path:
    html = stem.with_suffix(".html")
    pfig.write_html(html, include_plotlyjs="directory", full_html=True, div_id=stem.name,
                    config={"displaylogo": False})
    return html


# ---- one colour per strategy, reference and chunk ------------------------------------------

COLORS = {  # Okabe-Ito based (colour-blind safe); baselines cool, HL arms warm, references grey
    "real": "#222222", "synth": "#8c564b", "gaussian": "#0072b2", "learned_all": "#56b4e9",
    "flat_matched": "#e69f00", "hl_random": "#b2182b", "hl_random_paper": "#d55e00",
    "hl_random_delta": "#cc79a7", "hl_learned": "#009e73", "rcg": "#44aa99",
    "pixels": "#7f7f7f", "random": "#b3b3b3", "oracle": "#6a3d9a",
    # chunks ordered global -> fine: one sequential (plasma) ramp, apart from the arms' hues
    "chunk0": "#0d0887", "chunk1": "#7e03a8", "chunk2": "#cc4778", "chunk3": "#f89540",
}
FALLBACK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#bcbd22", "#e377c2",
            "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1")


def _key(name: str) -> str:
    """The name a label is coloured by: its leading word, so ``hl_random_paper (fixed)``,
    ``hl_learned: chunks 1..K-1`` and ``chunk 0: global`` take hl_random_paper, hl_learned, chunk0."""
    m = re.match(r"\s*(?:(chunk) ?(\d+)|([A-Za-z_]+))", name)
    return "" if m is None else (m[1] + m[2] if m[1] else m[3])


def _hashed(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(FALLBACK)  # not hash(): salted per process


def color(name: str) -> str:
    """The colour of a strategy, reference or chunk (by :func:`_key`), else a fallback picked by a
    hash of the whole name: the same in every figure and every run."""
    return COLORS.get(_key(name), FALLBACK[_hashed(name)])


def palette(names: Iterable[str]) -> dict[str, str]:
    """:func:`color` of each name; unknown names whose hashed colours collide within this set
    move to the next free fallback (in sorted-name order, so the order of appearance never matters)."""
    names = sorted(set(map(str, names)))
    out = {n: COLORS[_key(n)] for n in names if _key(n) in COLORS}
    taken = set(out.values())
    for n in (n for n in names if n not in out):
        i = _hashed(n)
        free = [FALLBACK[(i + j) % len(FALLBACK)] for j in range(len(FALLBACK))
                if FALLBACK[(i + j) % len(FALLBACK)] not in taken]
        out[n] = free[0] if free else FALLBACK[i]
        taken.add(out[n])
    return out


REFERENCES = ("pixels", "random", "oracle")  # reference rows: drawn dotted where they are lines


def is_variant(name: str) -> bool:
    """A known arm run another way, ``hl_random_paper (fixed)``: drawn open / dashed in its arm's colour."""
    return _key(name) in COLORS and name.strip()[len(_key(name)):].startswith(" (")


# ---- axis titles in words --------------------------------------------------------------------

LABELS = {  # column name -> axis title (with units); accuracies are drawn in %
    "mean_linear_top1": "linear probe top-1 (%)", "linear_top1": "linear probe top-1 (%)", "top1": "top-1 (%)",
    "knn_top1": "kNN top-1 (%)", "agreement": "oracle label agreement (%)",
    "oracle_agreement": "oracle label agreement (%)", "effective_rank": "effective rank",
    "uniformity": "uniformity (lower: more uniform)", "gain": "gain (points)", "strategy": "views",
    "method": "method", "target": "target", "chunk": "chunk (0 = global)", "sigma": "σ", "delta": "δ",
    "fashion_mnist": "Fashion-MNIST (in-domain)", "digits": "digits", "letters": "letters",
    "shift_gaussian_noise": "shift: Gaussian noise", "shift_blur": "shift: blur",
    "shift_contrast": "shift: contrast", "shift_occlusion": "shift: occlusion",
    "pixels": "raw pixels", "random": "random trunk", "oracle": "supervised oracle",
}


WORDS = (  # (pattern, replacement) for names with a number in them, tried in order after LABELS
    (r"gcrl_a([\d.]+)_b([\d.]+)", r"GCRL α=\1, β=\2"),  # an encoder of hlwb.ssl.gcrl: alpha, beta
    (r"knn_k(\d+)", r"kNN distance (k=\1)"),  # hlwb.ood.knn_score
    (r"shift/([a-z_]+?)(\d+)", lambda m: f"{label('shift_' + m[1])} (severity {m[2]})"),  # an OOD corruption
)
LABELS.update({  # OOD scores and sets (hlwb.ood)
    "log_likelihood": "log-likelihood", "likelihood_ratio": "likelihood ratio",
    "complexity": "complexity-corrected likelihood", "vflip": "upside-down", "invert": "inverted intensities",
    "ood_set": "OOD set",
})


def words(text) -> str:
    """A name in words where :data:`LABELS` or :data:`WORDS` know it (``gcrl_a1_b0 (simclr)`` ->
    ``GCRL α=1, β=0 (simclr)``), else unchanged: arm names such as ``hl_random_paper`` stay as the
    other figures and tables write them."""
    text = str(text)
    if text in LABELS:
        return LABELS[text]
    for pattern, repl in WORDS:
        text = re.sub(rf"\b{pattern}\b" if isinstance(repl, str) else pattern, repl, text)
    return text


def label(name) -> str:
    """An axis or panel title for a column or target name: :data:`LABELS` (or :data:`WORDS`), else
    underscores as spaces."""
    text = words(name)
    return text.replace("_", " ") if text == str(name) else text


def _integer_ticks(ax, axis: str = "x") -> None:
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def _legend(ax, n: int, order: list[float] | None = None, extra: list | None = None) -> None:
    """Up to 3 entries inside (best place), more outside on the right: never over the data.
    ``order``: one number per entry, the legend lists them from the largest (a line's last y);
    ``extra``: handles listed after them (what the reference lines and marks mean), counted in ``n``."""
    handles, labels = ax.get_legend_handles_labels()
    if order is not None and len(order) == len(labels):
        ranked = sorted(range(len(labels)), key=lambda i: -order[i])
        handles, labels = [handles[i] for i in ranked], [labels[i] for i in ranked]
    handles, labels = handles + list(extra or []), labels + [h.get_label() for h in extra or []]
    n += len(extra or [])
    if n > 3:
        ax.figure.legend(handles, labels, loc="outside right upper")
    elif n:
        ax.legend(handles, labels)


def _title(ax, text: str) -> None:
    """An axes title wrapped to the figure's width (about 10 characters per inch at 11 pt)."""
    import textwrap

    if text:  # each line wrapped on its own: a "\n" in ``text`` starts a new line
        width = int(10 * ax.figure.get_figwidth())
        ax.set_title("\n".join(textwrap.fill(line, width) for line in text.split("\n")))


# ---- image grids (raster only) -----------------------------------------------------------------

def tile(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Images ``(R, C, ch, H, W)`` or ``(N, ch, H, W)`` (one row) in [-1, 1] -> uint8 ``(H', W')`` for one
    channel, ``(H', W', 3)`` for RGB (colour images stay in colour)."""
    if images.ndim == 4:
        images = images.unsqueeze(0)
    r, c, ch, h, w = images.shape
    u8 = data.to_uint8(images).cpu().numpy().transpose(0, 1, 3, 4, 2)  # (R, C, H, W, ch)
    out = np.full((r * (h + pad) + pad, c * (w + pad) + pad, ch), 128, dtype=np.uint8)
    for i in range(r):
        for j in range(c):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = u8[i, j]
    return out[..., 0] if ch == 1 else out


def save_png(array: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """Write a uint8 array (grayscale ``(H, W)`` or RGB ``(H, W, 3)``) as PNG, nearest-neighbour upscaled by ``scale``."""
    from PIL import Image

    img = Image.fromarray(array)
    if scale != 1:
        img = img.resize((array.shape[1] * scale, array.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def save_grid(images: torch.Tensor, path: str | Path, ncol: int = 10, scale: int = 2) -> Path:
    """A sample grid of ``(N, C, H, W)`` images (grayscale or colour), ``ncol`` per row."""
    n = (len(images) // ncol) * ncol
    grid = images[:n].reshape(n // ncol, ncol, *images.shape[1:])
    return save_png(tile(grid), path, scale=scale)


@styled
def save_hierarchy_figure(grid: torch.Tensor, titles: list[str], path: str | Path,
                          title: str = "", row_titles: list[str] | None = None) -> Path:
    """A labelled image grid ``(R, C, ch, H, W)`` (grayscale or colour): column titles, optional row titles; PNG only.

    Notebook 01: rows = anchors, columns = anchor then chunk-k resamples (global -> fine);
    notebooks 02 and 04: rows = chunks, columns = σ.
    """
    plt = _pyplot()
    r, c = grid.shape[:2]
    fig, axes = plt.subplots(r, c, figsize=(0.9 * c + (1.0 if row_titles else 0.2), 0.9 * r + 0.8), squeeze=False,
                             layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
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
            if i == 0:
                ax.set_title(titles[j].replace("_", "\n", 1), fontsize=8)
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, svg=False)[0]


# ---- charts: PNG + SVG + HTML ----------------------------------------------------------------------

def _hover(xname: str, yname: str, yfmt: str = ".2f") -> str:
    """A plotly hover text: the trace name, x as given, y rounded."""
    return f"%{{fullData.name}}<br>{xname}: %{{x}}<br>{yname}: %{{y:{yfmt}}}<extra></extra>"


@styled
def save_agreement_plot(tables: dict[str, list[dict]], stem: str | Path) -> list[Path]:
    """Oracle agreement (%) per resampled chunk (global -> fine), one line per generator with its
    95 % interval: ``tables[generator]`` = :func:`hlwb.hierarchy.chunk_agreement` rows (fractions).
    PNG, SVG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    colors = palette(tables)
    fig, ax = plt.subplots(figsize=(SINGLE, 3.8))
    pfig = go.Figure()
    for name, rows in tables.items():
        k = [r["chunk"] for r in rows]
        a = np.array([100 * r["agreement"] for r in rows])
        lo = np.array([100 * r.get("ci_low", r["agreement"] - r["ci95"]) for r in rows])
        hi = np.array([100 * r.get("ci_high", r["agreement"] + r["ci95"]) for r in rows])
        ax.errorbar(k, a, yerr=[a - lo, hi - a], marker="o", capsize=3, label=name, color=colors[name])
        pfig.add_trace(go.Scatter(x=k, y=a.tolist(), name=name, mode="lines+markers", line={"color": colors[name]},
                                  error_y={"type": "data", "symmetric": False, "array": (hi - a).tolist(),
                                           "arrayminus": (a - lo).tolist()},
                                  customdata=[r["name"] for r in rows],
                                  hovertemplate="%{fullData.name}, chunk %{x} (%{customdata}): %{y:.1f} %"
                                                "<extra></extra>"))
    ax.set_xlabel("resampled chunk (0 = global)")
    ax.set_ylabel(label("agreement"))
    ax.set_ylim(0, 102)
    _integer_ticks(ax)
    _legend(ax, len(tables))
    pfig.update_layout(xaxis_title="resampled chunk (0 = global)", yaxis_title=label("agreement"),
                       xaxis={"dtick": 1}, yaxis_range=[0, 102], width=640, height=400, template="plotly_white")
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


FEW = 8  # a series of at most this many points shows them as markers (a single point has no line to show)


@styled
def save_curves(curves: dict[str, tuple[list[float], list[float]]], stem: str | Path, xlabel: str,
                ylabel: str, title: str = "", hline: float | None = None,
                marks: dict[str, tuple[float, float]] | None = None, hline_label: str = "",
                marks_label: str = "selected") -> list[Path]:
    """Lines ``name -> (x, y)`` as PNG and SVG (matplotlib) and an interactive HTML (plotly), each
    name in its :func:`color` (a variant such as ``real (fixed)`` dashed); a series of at most
    :data:`FEW` points shows its points as markers, so a one-point series is a visible dot.

    Args:
        curves: name -> (x, y), equal lengths; accuracies go in as %. Integer x values get integer ticks.
        hline: a dashed grey reference level, in the legend as ``hline_label`` (default: its value).
        marks: name -> (x, y): one open circle on that line (e.g. the selected snapshot), in the
            legend once as ``marks_label``.
    """
    plt = _pyplot()
    import plotly.graph_objects as go
    from matplotlib.lines import Line2D

    stem = Path(stem)
    for name, (x, y) in curves.items():
        if len(x) != len(y):
            raise ValueError(f"curve {name!r} has {len(x)} x values and {len(y)} y values; give one y per x")
    colors = palette(curves)
    extra = []  # legend entries for what is not a curve: the reference level, the marks
    if hline is not None:
        hline_label = hline_label or f"reference level {hline:.4g}"
        extra.append(Line2D([], [], color="grey", ls="--", lw=0.8, label=hline_label))
    if marks:
        extra.append(Line2D([], [], color="#444444", marker="o", ms=7, mfc="none", ls="none", label=marks_label))
    fig, ax = plt.subplots(figsize=(SINGLE + (2.0 if len(curves) + len(extra) > 3 else 0.0), 3.8))
    pfig = go.Figure()
    for name, (x, y) in curves.items():
        dash = ":" if _key(name) in REFERENCES else "--" if is_variant(name) else "-"
        few = len(x) <= FEW
        ax.plot(x, y, label=name, color=colors[name], ls=dash, marker="o" if few else None, ms=4)
        pfig.add_trace(go.Scatter(x=list(x), y=list(y), name=name, mode="lines+markers" if few else "lines",
                                  line={"color": colors[name], "dash": {":": "dot", "--": "dash"}.get(dash, "solid")},
                                  hovertemplate=_hover(xlabel, ylabel)))
        if marks and name in marks:
            mx, my = marks[name]
            ax.plot([mx], [my], marker="o", ms=7, mfc="none", color=colors[name], ls="none", label="_nolegend_")
            pfig.add_trace(go.Scatter(x=[mx], y=[my], name=f"{name}: {marks_label}", mode="markers",
                                      marker={"size": 10, "symbol": "circle-open", "color": colors[name]},
                                      hovertemplate=_hover(xlabel, ylabel)))
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=0.8, label="_nolegend_")
        xs = [float(v) for x, _ in curves.values() for v in x]
        if xs:  # a trace, not add_hline: plotly lists traces in the legend, shapes never
            pfig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[hline, hline], name=hline_label, mode="lines",
                                      line={"color": "grey", "dash": "dash", "width": 1},
                                      hovertemplate=f"{hline_label}<extra></extra>"))
    if all(float(v).is_integer() for x, _ in curves.values() for v in x):
        _integer_ticks(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _title(ax, title)
    _legend(ax, len(curves), order=[y[-1] if len(y) else 0.0 for _, y in curves.values()], extra=extra)
    pfig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel, title=title or None, width=680, height=420,
                       template="plotly_white")
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


@styled
def save_sigma_agreement_plot(curves: dict[str, dict[str, tuple[list[float], list[float], list[float]]]],
                              stem: str | Path, level: float = 0.9) -> list[Path]:
    """Oracle agreement (%) vs σ, one panel per generator, one line per chunk with its 95 % band:
    ``curves[generator][chunk] = (sigmas, agreement, ci_half_width)``, agreement and half-width as
    fractions, ``level`` too (drawn at 100 * level, in the legend). PNG, SVG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go
    from matplotlib.patches import Patch
    from plotly.subplots import make_subplots

    stem = Path(stem)
    gens = list(curves)
    colors = palette(c for g in gens for c in curves[g])
    fig, axes = plt.subplots(1, len(gens), figsize=(MULTI / 2 * len(gens), 3.8), squeeze=False, sharey=True)
    pfig = make_subplots(rows=1, cols=len(gens), subplot_titles=gens, shared_yaxes=True)
    for col, (g, ax) in enumerate(zip(gens, axes[0]), start=1):
        for chunk, (s, a, e) in curves[g].items():
            a, e = 100 * np.asarray(a, dtype=float), 100 * np.asarray(e, dtype=float)
            ax.plot(s, a, marker="o", ms=3, label=chunk, color=colors[chunk])
            ax.fill_between(s, a - e, a + e, color=colors[chunk], alpha=0.15, lw=0)
            pfig.add_trace(go.Scatter(x=list(s), y=a.tolist(), name=f"{g}: {chunk}", mode="lines+markers",
                                      line={"color": colors[chunk]}, error_y={"type": "data", "array": e.tolist()},
                                      hovertemplate=_hover("σ", "agreement (%)", ".1f")), row=1, col=col)
        level_label = f"{100 * level:.0f} % agreement"  # the dashed line, in the legend of each panel
        ax.axhline(100 * level, color="grey", ls="--", lw=0.8, label=level_label)
        sig = [float(v) for s, _, _ in curves[g].values() for v in s]
        if sig:  # a trace, not add_hline: plotly lists traces in the legend, shapes never
            pfig.add_trace(go.Scatter(x=[min(sig), max(sig)], y=[100 * level] * 2, name=level_label, mode="lines",
                                      line={"color": "grey", "dash": "dash", "width": 1}, legendgroup="level",
                                      showlegend=col == 1, hovertemplate=f"{level_label}<extra></extra>"),
                           row=1, col=col)
        ax.set_title(g)
        ax.set_xscale("symlog", linthresh=0.02)  # the grid is log-spaced from 0.02, plus 0
        ax.set_xlim(left=0)
        ax.set_xlabel("σ (only this chunk moves)")
        ax.set_ylim(0, 102)
        handles = ax.get_legend_handles_labels()[0] + [Patch(color="grey", alpha=0.15, lw=0,
                                                             label="shaded: 95 % interval")]
        ax.legend(handles=handles, fontsize=8, loc="lower left")
        pfig.update_xaxes(title_text="σ (only this chunk moves)", row=1, col=col)
    axes[0][0].set_ylabel(label("agreement"))
    pfig.update_layout(yaxis_title=label("agreement"), width=480 * len(gens), height=420, template="plotly_white")
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


def _arm_order(arms: Iterable[str]) -> list[str]:
    """Arms in :data:`COLORS` order (baselines, then HL arms), each variant under its arm, unknown last."""
    known = list(COLORS)
    return sorted(set(arms), key=lambda a: (known.index(_key(a)) if _key(a) in known else len(known), a))


@styled
def save_transfer_dots(acc, stem: str | Path, references: tuple[str, ...] = ("pixels", "random"),
                       ncols: int = 2, xlabel: str = "linear probe top-1 (%)") -> list[Path]:
    """The transfer headline: one panel per target, each arm a dot at its mean top-1 (%) with a
    ± std (over seeds) bar, the ``references`` as labelled vertical lines, the legend below the panels.

    ``acc``: :func:`hlwb.transfer.accuracy_table` rows of one method plus the references
    (method ``reference``): columns method, strategy, target, mean, std, n_seeds, mean and std as
    fractions (drawn x 100). PNG, SVG and HTML."""
    plt = _pyplot()
    import plotly.graph_objects as go
    from matplotlib.lines import Line2D
    from plotly.subplots import make_subplots

    stem = Path(stem)
    arms_df = acc[acc.method != "reference"]
    if arms_df.method.nunique() > 1:
        raise ValueError(f"one method per figure, got {sorted(arms_df.method.unique())}")
    refs = acc[(acc.method == "reference") & acc.strategy.isin(references)]
    targets = sorted(acc.target.unique(), key=lambda t: (not t.startswith("fashion_mnist"), t))
    arms = _arm_order(arms_df.strategy)[::-1]  # bottom to top: the first arm at the top
    colors = palette(list(arms) + list(references))
    ref_style = dict(zip(references, itertools.cycle(("--", ":", "-."))))
    ncols = min(ncols, len(targets))
    nrows = math.ceil(len(targets) / ncols)
    fig, axes = plt.subplots(nrows, ncols, sharey=True, squeeze=False,
                             figsize=(MULTI if ncols > 1 else SINGLE, nrows * (0.22 * len(arms) + 0.9) + 0.5))
    pfig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[label(t) for t in targets], shared_yaxes=True,
                         horizontal_spacing=0.06, vertical_spacing=0.3 / nrows)
    y = {a: i for i, a in enumerate(arms)}
    in_legend: set[str] = set()  # plotly: each arm once in the legend
    for n, (t, ax) in enumerate(zip(targets, axes.flat)):
        row, col = n // ncols + 1, n % ncols + 1
        d = arms_df[arms_df.target == t].set_index("strategy")
        r = refs[refs.target == t].set_index("strategy")["mean"] * 100
        for a in arms:
            if a not in d.index:
                continue
            m, s = 100 * d.loc[a, "mean"], 100 * d.loc[a, "std"]
            open_ = is_variant(a)
            ax.errorbar([m], [y[a]], xerr=[[s], [s]], fmt="o", color=colors[a], mfc="white" if open_ else colors[a],
                        ms=6, capsize=2.5, lw=1.3)
            pfig.add_trace(go.Scatter(x=[m], y=[a], mode="markers", name=a, legendgroup=a, showlegend=a not in in_legend,
                                      marker={"color": colors[a], "size": 9,
                                              "symbol": "circle-open" if open_ else "circle"},
                                      error_x={"type": "data", "array": [s]},
                                      customdata=[[s, int(d.loc[a, "n_seeds"])]],
                                      hovertemplate=f"{a}<br>{label(t)}: %{{x:.2f}} ± %{{customdata[0]:.2f}} % "
                                                    "(%{customdata[1]} seeds)<extra></extra>"), row=row, col=col)
            in_legend.add(a)
        lines = sorted(r.items(), key=lambda kv: kv[1])
        for i, (ref, v) in enumerate(lines):
            ax.axvline(v, color=colors[ref], ls=ref_style[ref], lw=1.2, zorder=0)
            right = i == len(lines) - 1  # the largest reference labelled to its right, the others to the left
            ax.text(v, len(arms) - 0.2, f" {label(ref)} ", ha="left" if right else "right", va="bottom",
                    fontsize=8, color="#444444")
            pfig.add_vline(x=v, line_dash="dash" if ref_style[ref] == "--" else "dot", line_color=colors[ref],
                           annotation_text=label(ref), annotation_position="top right" if right else "top left",
                           annotation_font_size=10, row=row, col=col)
        lo = min([100 * (d["mean"] - d["std"]).min()] + list(r))
        hi = max([100 * (d["mean"] + d["std"]).max()] + list(r))
        pad = max(0.5, 0.12 * (hi - lo))
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-0.6, len(arms) + 0.6)  # the top row holds the reference labels
        ax.set_title(label(t))
        ax.grid(axis="y", visible=False)
        if row == nrows or n + ncols >= len(targets):
            ax.set_xlabel(xlabel)
    for ax in list(axes.flat)[len(targets):]:
        ax.set_visible(False)
    axes[0][0].set_yticks(range(len(arms)), arms)
    handles = [Line2D([], [], color="#444444", marker="o", ls="-", label="arm: mean ± std over seeds"),
               Line2D([], [], color="#444444", marker="o", mfc="white", ls="-", label="arm run another way, e.g. (fixed)")]
    handles += [Line2D([], [], color=colors[r], ls=ref_style[r], label=label(r)) for r in references]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    pfig.update_xaxes(title_text=xlabel, row=nrows)
    pfig.update_yaxes(categoryorder="array", categoryarray=arms)  # the order of the PNG, bottom to top
    pfig.update_layout(template="plotly_white", width=900, height=nrows * (22 * len(arms) + 90) + 120,
                       legend={"orientation": "h", "y": -0.08, "x": 0.5, "xanchor": "center"})
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


@styled
def save_heatmap(table, stem: str | Path, title: str = "", fmt: str = "{:+.1f}", value_label: str = "",
                 center: float = 0.0, limits: tuple[float, float] | None = None) -> list[Path]:
    """A labelled heatmap of a 2-D frame (rows x columns) on a diverging map white at ``center``:
    PNG, SVG and HTML.

    Args:
        table: values (R, C); row and column names are put in words (:func:`words`, :func:`label`),
            axis titles come from the index and column names.
        value_label: the colour bar's title.
        center: the value drawn white, e.g. 0 for a gain, 50 for an AUROC (%) whose chance level is 50.
        limits: (low, high) of the colour scale, ``center`` strictly inside (e.g. (0, 100) for a
            score in %); default: symmetric about ``center``, as far as the largest deviation.
    """
    plt = _pyplot()
    import plotly.graph_objects as go
    from matplotlib.colors import TwoSlopeNorm

    if limits is not None and not limits[0] < center < limits[1]:
        raise ValueError(f"limits {limits} must hold center {center} strictly inside: the colour map is white there")
    stem = Path(stem)
    v = table.to_numpy(dtype=float)
    if limits is None:
        dev = np.nanmax(np.abs(v - center)) if np.isfinite(v).any() else 1.0
        limits = (center - (dev or 1.0), center + (dev or 1.0))
    lo, hi = limits
    rows = [" / ".join(map(words, i)) if isinstance(i, tuple) else words(i) for i in table.index]
    cols = [label(c) for c in table.columns]
    ylabel = " / ".join(label(n) for n in table.index.names if n is not None)
    xlabel = label(table.columns.name) if table.columns.name else ""
    fig, ax = plt.subplots(figsize=(min(MULTI, 0.8 * v.shape[1] + 4.0), 0.3 * v.shape[0] + 1.8))
    im = ax.imshow(v, cmap="RdBu", norm=TwoSlopeNorm(center, lo, hi), aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(v.shape[1]), cols, rotation=30, ha="right")
    ax.set_yticks(range(v.shape[0]), rows)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if np.isfinite(v[i, j]):  # white text on the dark ends of the map
                dark = (v[i, j] - center) / ((hi if v[i, j] > center else lo) - center) > 0.6
                ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label=value_label or None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _title(ax, title)
    hover_fmt = re.sub(r"^\{:(.*)\}$", r"\1", fmt)  # "{:+.1f}" -> "+.1f": plotly rounds like the PNG
    mid = (center - lo) / (hi - lo)  # plotly: the same map, white at center, for unequal halves too
    scale = [[0.0, "#67001f"], [mid / 2, "#f4a582"], [mid, "#f7f7f7"], [mid + (1 - mid) / 2, "#92c5de"],
             [1.0, "#053061"]]
    pfig = go.Figure(go.Heatmap(z=v, x=cols, y=rows, colorscale=scale, zmin=lo, zmax=hi,
                                texttemplate=f"%{{z:{hover_fmt}}}",
                                colorbar={"title": {"text": value_label}} if value_label else None,
                                hovertemplate=f"%{{y}}, %{{x}}: %{{z:{hover_fmt}}}<extra></extra>"))
    pfig.update_layout(title=title or None, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white",
                       width=760, height=300 + 22 * v.shape[0], yaxis={"autorange": "reversed"})
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


def gain_table(acc, baseline: str = "real", level: float = 0.95):
    """Each arm's gain (points) over the same method's ``baseline`` arm, per target, with a
    ``level`` Welch t-interval over seeds where both arms have at least two.

    Args:
        acc: :func:`hlwb.transfer.accuracy_table` rows: method, strategy, target, mean, std (over
            seeds; fractions) and n_seeds; ``method == "reference"`` rows are left out.
    Returns:
        A frame with method, strategy, target, gain, low, high (points; low and high NaN without an
        interval), n_seeds and n_baseline; the baseline's own all-zero rows are not in it.
    """
    import pandas as pd
    from scipy.special import stdtrit  # the t quantile (scipy.stats takes seconds to import)

    cols = ["method", "strategy", "target", "gain", "low", "high", "n_seeds", "n_baseline"]
    base = acc[acc.strategy == baseline].set_index(["method", "target"])
    rows = []
    for r in acc[(acc.method != "reference") & (acc.strategy != baseline)].itertuples():
        if (r.method, r.target) not in base.index:
            continue
        b = base.loc[(r.method, r.target)]
        n, nb = int(r.n_seeds), int(b.n_seeds)
        gain, low, high = 100 * (r.mean - b["mean"]), math.nan, math.nan
        if n > 1 and nb > 1:
            va, vb = (100 * r.std) ** 2 / n, (100 * b["std"]) ** 2 / nb
            if va + vb > 0:  # Welch-Satterthwaite degrees of freedom
                df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (nb - 1))
                half = stdtrit(df, 0.5 + level / 2) * math.sqrt(va + vb)
            else:
                half = 0.0
            low, high = gain - half, gain + half
        rows.append({"method": r.method, "strategy": r.strategy, "target": r.target, "gain": gain, "low": low,
                     "high": high, "n_seeds": n, "n_baseline": nb})
    return pd.DataFrame(rows, columns=cols)


def _seeds(n: Iterable[int], nb: Iterable[int]) -> str:
    """``3 seeds`` or ``1 seed vs 3 on real`` (a range such as ``1-3`` where targets differ)."""
    def span(v):
        v = sorted(set(v))
        return str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"
    n, nb = span(n), span(nb)
    word = "seed" if n == "1" else "seeds"
    return f"{n} {word}" if n == nb else f"{n} {word} vs {nb} on real"


@styled
def save_gain_over_real(acc, stem: str | Path, title: str = "", level: float = 0.95) -> list[Path]:
    """Each arm's linear top-1 gain (points) over the same method on real data, per target: a
    heatmap diverging around 0, each cell its gain and (where both arms have two or more seeds) the
    half-width of its ``level`` t-interval, bold where that interval excludes 0. Rows say how many
    seeds they rest on, grouped from the most seeds down, a line between groups; the real rows
    (all zero by construction) are left out. PNG, SVG and HTML.

    Args:
        acc: :func:`hlwb.transfer.accuracy_table` rows (fractions), see :func:`gain_table`.
    """
    plt = _pyplot()
    import plotly.graph_objects as go
    from matplotlib.colors import TwoSlopeNorm

    stem = Path(stem)
    g = gain_table(acc, level=level)
    if g.empty:
        raise ValueError("no arm shares a method with a real-data encoder: nothing to draw a gain over real for")
    targets = sorted(g.target.unique(), key=lambda t: (not t.startswith("fashion_mnist"), t))
    keys = []  # (method, strategy, seed label, fewest seeds)
    for (m, a), d in g.groupby(["method", "strategy"]):
        keys.append((m, a, _seeds(d.n_seeds, d.n_baseline), int(min(d.n_seeds.min(), d.n_baseline.min()))))
    arm_rank = {a: i for i, a in enumerate(_arm_order(g.strategy))}
    keys.sort(key=lambda k: (-k[3], k[0], arm_rank[k[1]]))
    cell = g.set_index(["method", "strategy", "target"])
    R, C = len(keys), len(targets)
    v, low, high = (np.full((R, C), np.nan) for _ in range(3))
    for i, (m, a, *_) in enumerate(keys):
        for j, t in enumerate(targets):
            if (m, a, t) in cell.index:
                v[i, j], low[i, j], high[i, j] = cell.loc[(m, a, t), ["gain", "low", "high"]]
    half = (high - low) / 2
    sure = (low > 0) | (high < 0)  # the interval excludes 0 (False where there is none)
    text = [["" if np.isnan(v[i, j]) else f"{v[i, j]:+.1f}" + ("" if np.isnan(half[i, j]) else f"\n±{half[i, j]:.1f}")
             for j in range(C)] for i in range(R)]
    rows = [f"{m} / {a}  ({s})" for m, a, s, _ in keys]
    lim = float(np.nanmax(np.abs(v))) or 1.0
    note = (f"cell: gain, ± half-width of its {100 * level:.0f} % Welch t-interval over seeds "
            "(none with 1 seed); bold: the interval excludes 0")
    fig, ax = plt.subplots(figsize=(min(MULTI, 0.9 * C + 4.2), 0.42 * R + 2.0))
    im = ax.imshow(v, cmap="RdBu", norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(C), [label(t) for t in targets], rotation=30, ha="right")
    ax.set_yticks(range(R), rows)
    for i in range(R):
        for j in range(C):
            if text[i][j]:
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7.5, linespacing=1.0,
                        fontweight="bold" if sure[i, j] else "normal",
                        color="white" if abs(v[i, j]) > 0.6 * lim else "black")
    for i in range(1, R):  # a line between rows resting on different numbers of seeds
        if keys[i][3] != keys[i - 1][3]:
            ax.axhline(i - 0.5, color="black", lw=1.2)
    fig.colorbar(im, ax=ax, shrink=0.8, label="gain (points)")
    ax.set_xlabel("target")
    ax.set_ylabel("method / views  (seeds)")
    _title(ax, (title + "\n" if title else "") + note)
    ax.title.set_fontsize(9)
    pfig = go.Figure(go.Heatmap(z=v, x=[label(t) for t in targets], y=rows, colorscale="RdBu", zmid=0,
                                text=[[t.replace("\n", "<br>") for t in r] for r in text], texttemplate="%{text}",
                                customdata=np.dstack([low, high]).tolist(),
                                colorbar={"title": {"text": "gain (points)"}},
                                hovertemplate="%{y}, %{x}: %{z:+.2f} [%{customdata[0]:+.2f}, %{customdata[1]:+.2f}]"
                                              "<extra></extra>"))
    pfig.update_layout(title=title or None, xaxis_title="target", yaxis_title="method / views (seeds)",
                       template="plotly_white", width=900, height=300 + 30 * R, yaxis={"autorange": "reversed"})
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


@styled
def save_scatter(frame, x: str, y: str, color_by: str, stem: str | Path, title: str = "") -> list[Path]:
    """Points ``frame[x]`` vs ``frame[y]`` coloured by ``frame[color_by]`` (:func:`color`), axis
    titles in words (:func:`label`; accuracies go in as %): PNG, SVG and HTML."""
    plt = _pyplot()
    import plotly.express as px

    stem = Path(stem)
    colors = palette(frame[color_by].astype(str))
    fig, ax = plt.subplots(figsize=(SINGLE, 4.0))
    groups = list(frame.groupby(color_by))
    for name, d in groups:
        ax.scatter(d[x], d[y], s=22, label=str(name), color=colors[str(name)])
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    _legend(ax, len(groups))
    _title(ax, title)
    numeric = frame.select_dtypes("number").columns
    pfig = px.scatter(frame.assign(**{color_by: frame[color_by].astype(str)}), x=x, y=y, color=color_by,
                      color_discrete_map=colors, template="plotly_white", title=title or None,
                      labels={c: label(c) for c in frame.columns},
                      hover_data={c: (":.2f" if c in numeric else True) for c in frame.columns})
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


@styled
def save_intervals(rows: list[tuple[str, float, float, float]], stem: str | Path, xlabel: str,
                   title: str = "", zero: float = 0.0) -> list[Path]:
    """A forest plot: one row per ``(label, estimate, low, high)`` (a difference with its
    interval), top to bottom, each in its arm's :func:`color`, a dashed line at ``zero``; PNG and
    SVG (matplotlib) and HTML (plotly)."""
    plt = _pyplot()
    import plotly.graph_objects as go

    stem = Path(stem)
    labels = [r[0] for r in rows]
    est = np.array([r[1] for r in rows], dtype=float)
    lo = np.array([r[2] for r in rows], dtype=float)
    hi = np.array([r[3] for r in rows], dtype=float)
    colors = palette(labels)
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(SINGLE, 1.0 + 0.3 * max(1, len(rows))))
    for yi, name, e, a, b in zip(y, labels, est, lo, hi):
        ax.errorbar([e], [yi], xerr=[[e - a], [b - e]], fmt="o", ms=5, capsize=3, lw=1.3, color=colors[name])
    ax.axvline(zero, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y, labels)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    _title(ax, title)
    pfig = go.Figure(go.Scatter(x=est.tolist(), y=labels, mode="markers", marker={"color": [colors[n] for n in labels]},
                                error_x={"type": "data", "symmetric": False, "array": (hi - est).tolist(),
                                         "arrayminus": (est - lo).tolist()},
                                customdata=np.stack([lo, hi], axis=1).tolist(),
                                hovertemplate="%{y}: %{x:+.2f} [%{customdata[0]:+.2f}, %{customdata[1]:+.2f}]"
                                              "<extra></extra>"))
    pfig.add_vline(x=zero, line_dash="dash", line_color="grey")
    pfig.update_layout(xaxis_title=xlabel, title=title or None, width=680, height=160 + 28 * len(rows),
                       template="plotly_white", yaxis={"autorange": "reversed"})
    return save_figure(fig, stem) + [_write_html(pfig, stem)]


STRENGTH_CURVES = ("chunk 0 fixed", "all chunks")  # save_strength_figure's two curves
STRENGTH_PANELS = {"linear": "linear probe", "knn": "kNN (k = 20)"}
POINT_MARKERS = ("s", "D", "^", "v", "P", "X", "*", "h", "<", ">")


@styled
def save_strength_figure(rows: list[dict], stem: str | Path, title: str = "") -> list[Path]:
    """Accuracy against the positives' mean ||z' - z||, one panel per protocol (linear, kNN): the two
    strength curves (:data:`STRENGTH_CURVES`: the paper rule scaled, chunk 0 fixed; the flat control,
    all chunks moved) as lines through their arms, every other arm a labelled point; each point is the
    mean over seeds with its seed interval as a vertical bar. PNG and SVG (matplotlib), HTML (plotly).

    Args:
        rows: one per (arm, protocol): ``arm``, ``protocol`` ("linear" / "knn"), ``mean_delta``, ``mean``,
            ``ci_low``, ``ci_high`` (accuracy in %), ``curve`` (one of :data:`STRENGTH_CURVES`, or None:
            a point).
    """
    plt = _pyplot()
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    need = ("arm", "protocol", "mean_delta", "mean", "ci_low", "ci_high", "curve")
    for r in rows:
        missing = [k for k in need if k not in r]
        if missing:
            raise ValueError(f"strength row {r.get('arm', r)!r} lacks {', '.join(missing)}; each row needs "
                             f"{', '.join(need)}")
        if r["curve"] is not None and r["curve"] not in STRENGTH_CURVES:
            raise ValueError(f"curve {r['curve']!r} of arm {r['arm']!r} is not one of {STRENGTH_CURVES} (or None)")
    protocols = [p for p in ("linear", "knn") if any(r["protocol"] == p for r in rows)]
    if not protocols:
        raise ValueError("no linear or knn rows to draw")
    stem = Path(stem)
    colors = palette(list(STRENGTH_CURVES) + sorted({r["arm"] for r in rows if r["curve"] is None}))
    points = sorted({r["arm"] for r in rows if r["curve"] is None})  # one marker shape each, named in the legend
    fig, axes = plt.subplots(1, len(protocols), figsize=(MULTI + 1.5, 3.8), squeeze=False)
    pfig = make_subplots(rows=1, cols=len(protocols), subplot_titles=[STRENGTH_PANELS[p] for p in protocols])
    for col, (ax, proto) in enumerate(zip(axes[0], protocols), start=1):
        mine = [r for r in rows if r["protocol"] == proto]
        groups = [(c, sorted((r for r in mine if r["curve"] == c), key=lambda r: r["mean_delta"]))
                  for c in STRENGTH_CURVES] + [(r["arm"], [r]) for r in mine if r["curve"] is None]
        for name, rs in groups:
            if not rs:
                continue
            x = [r["mean_delta"] for r in rs]
            y = [r["mean"] for r in rs]
            err = [[m - r["ci_low"] for m, r in zip(y, rs)], [r["ci_high"] - m for m, r in zip(y, rs)]]
            is_curve = name in STRENGTH_CURVES
            marker = "o-" if is_curve else POINT_MARKERS[points.index(name) % len(POINT_MARKERS)]
            ax.errorbar(x, y, yerr=err, fmt=marker, color=colors[name], ms=4 if is_curve else 6,
                        capsize=2, label=name if col == len(protocols) else "_nolegend_")
            pfig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers" if is_curve else "markers", name=name,
                                      legendgroup=name, showlegend=col == 1, marker={"color": colors[name]},
                                      text=[r["arm"] for r in rs],
                                      error_y={"type": "data", "symmetric": False, "array": err[1],
                                               "arrayminus": err[0]},
                                      hovertemplate="%{text}: mean ||Δ|| %{x:.2f}, %{y:.2f} %<extra></extra>"),
                           row=1, col=col)
        ax.set_xlabel("positives' mean ||z′ − z||")
        ax.set_ylabel("top-1 (%)")
        _title(ax, STRENGTH_PANELS[proto])
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title)
    pfig.update_layout(title=title or None, width=900, height=420, template="plotly_white")
    return save_figure(fig, stem) + [_write_html(pfig, stem)]

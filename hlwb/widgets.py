"""The latent explorer widget: a thin ipywidgets view over :func:`hlwb.explorer.render`.

One control group per chunk (global -> fine): a seed slider with a number box (resample only
that chunk), a direction slider (walk along a random or principal direction), a σ slider (noise
scale of the positives), and a lock box (freeze the chunk as it is now). Plus a generator picker,
truncation, "new anchor", "reset", export and import, a one-line legend, and a tooltip on every
control. One ``widgets.Image`` holds the composed PNG; every slider uses
``continuous_update=False`` so dragging never queues renders. Errors (a bad JSON, an unknown
generator) are shown in a message line, not raised; switching generator keeps what fits the new
one and says what it reset.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W
import torch

from . import devices
from . import explorer as E
from . import generators as G

LEGEND = ("<b>seed</b>: redraw only this chunk (0 = the anchor's own) · <b>direction</b>: walk this chunk along "
          "a random or principal direction · <b>σ</b>: how far the positives move this chunk · <b>lock</b>: freeze "
          "the chunk as it is now (its controls and its positives stay put) · <b>truncation</b>: the latent "
          "range anchors are drawn from. Chunks run from global (top) to fine (bottom).")
TIPS = {
    "seed": "Redraw only this chunk from another seed (0 keeps the anchor's own value).",
    "alpha": "Move this chunk along one direction (random or principal, see 'directions'), in units of its norm.",
    "sigma": "Noise scale of the positives on this chunk: how far each positive moves it from the anchor.",
    "lock": "Freeze this chunk as it is now: its sliders stop moving it and the positives do not perturb it.",
    "truncation": "Draw anchors from a normal truncated at this many standard deviations (smaller: more typical).",
    "directions": "Directions of the 'direction' sliders: random unit vectors, or each chunk's principal pixel direction.",
    "generator": "A shipped HL generator; or type a checkpoint path and press load.",
}


# Layout for a 1366 x 768 laptop screen: the controls (left) and the view (right) side by side, each
# row of the controls at most CONTROLS_PX wide (two rows per chunk), the composed view
# hlwb.explorer.composed_width(VIEW_SIZE) px wide. On a narrower page the view wraps below the controls.
CONTROLS_PX, ROW_PX = 560, 34
NAME_PX = 200  # a chunk's name: "0: coarse_4-8px (global)" whole; a longer one widens its row, never cut


def _px(w: W.Widget) -> int:
    """The declared width of ``w`` in px (0 when it declares none)."""
    width = getattr(getattr(w, "layout", None), "width", None) or ""
    return int(width[:-2]) if width.endswith("px") else 0


def chunk_label(k: int, name: str, n_chunks: int) -> str:
    """The label of chunk ``k`` of ``n_chunks``: ``"0: coarse_4-8px (global)"``; "global" / "finest" are
    added to the first / last chunk unless its name says so."""
    where = "global" if k == 0 else "finest" if k == n_chunks - 1 else ""
    return f"{k}: {name}" + (f" ({where})" if where and where not in name else "")


class LatentExplorer:
    """``LatentExplorer().widget`` is the UI; ``sliders`` (seed / alpha / sigma / lock per chunk),
    ``boxes`` (the seed number boxes), ``image`` and ``state`` are for tests. ``device``
    (:func:`hlwb.devices.resolve`): where the generators render. ``oracle``: the classifier whose labels
    the view shows (one of the generator's spec; None: the shipped Fashion-MNIST oracle). ``anchor_seed``
    None: the first anchor the oracle labels confidently, its positives keeping the label
    (:func:`hlwb.explorer.confident_anchor`)."""

    def __init__(self, generator: str = "biggan", figures_dir: str | Path = "figures", n_positives: int = 6,
                 anchor_seed: int | None = None, device: str | torch.device = "auto", oracle=None):
        self.oracle = oracle  # the labels' oracle (hlwb.oracle.Oracle; None: the shipped one, Fashion-MNIST)
        self.figures_dir = Path(figures_dir)
        self.device = devices.resolve(device)
        self.state = E.default_state(generator, self.device)
        if anchor_seed is None:
            anchor_seed = E.confident_anchor(generator, oracle, n_positives=n_positives, device=self.device)
        self.state.n_positives, self.state.anchor_seed = n_positives, anchor_seed
        self.message = W.HTML(value="", layout=W.Layout(width="100%"))
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.picker = W.Dropdown(options=sorted(G.SHIPPED), value=generator if generator in G.SHIPPED else None,
                                 description="generator", tooltip=TIPS["generator"], style={"description_width": "70px"},
                                 layout=W.Layout(width="230px"))
        self.path = W.Text(placeholder="or a checkpoint path", layout=W.Layout(width="220px"))
        self.load_btn = W.Button(description="load", tooltip="Load the generator checkpoint at the path typed beside",
                                 layout=W.Layout(width="70px"))
        self.truncation = W.FloatSlider(value=self.state.truncation, min=0.2, max=E.TRUNCATION_MAX, step=0.1,
                                        description="truncation", continuous_update=False, tooltip=TIPS["truncation"],
                                        style={"description_width": "70px"}, layout=W.Layout(width="300px"))
        self.dir_mode = W.ToggleButtons(options=["random", "pca"], value="random", tooltips=[TIPS["directions"]] * 2,
                                        style={"button_width": "72px"}, layout=W.Layout(width="170px"))
        # its own label: a ToggleButtons' description takes a line of its own in JupyterLab
        self.dir_label = W.Label("directions", layout=W.Layout(width="80px"))
        self.new_anchor = W.Button(description="new anchor", tooltip="Draw the next anchor (and new positives)",
                                   layout=W.Layout(width="100px"))
        self.reset_btn = W.Button(description="reset", tooltip="Every chunk control back to its default, same anchor",
                                  layout=W.Layout(width="70px"))
        self.export_btn = W.Button(description="export", tooltip="Write the view (PNG) and these settings (JSON)",
                                   layout=W.Layout(width="70px"))
        self.import_text = W.Text(placeholder="settings .json path", layout=W.Layout(width="220px"))
        self.import_btn = W.Button(description="import", tooltip="Load settings written by export (a path or JSON text)",
                                   layout=W.Layout(width="70px"))
        self.legend = W.HTML(value=f"<small>{LEGEND}</small>")
        self.chunk_box = W.VBox()
        self.sliders: dict[str, W.Widget] = {}
        self._busy = False
        self._note = ""  # a one-off addition to the next message (what a generator switch reset)

        self.load_btn.on_click(lambda _: self.set_generator(self.path.value.strip()))
        self.picker.observe(self._on_pick, names="value")
        self.truncation.observe(self._on_change, names="value")
        self.dir_mode.observe(self._on_change, names="value")
        self.new_anchor.on_click(lambda _: self._new_anchor())
        self.reset_btn.on_click(lambda _: self.reset())
        self.export_btn.on_click(lambda _: self.export())
        self.import_btn.on_click(lambda _: self.import_settings(self.import_text.value.strip()))
        self._build_chunk_controls()
        self.controls = W.VBox([
            W.HBox([self.picker, self.path, self.load_btn]),
            W.HBox([self.truncation, self.dir_label, self.dir_mode]),
            W.HBox([self.new_anchor, self.reset_btn, self.export_btn, self.import_text, self.import_btn]),
            self.chunk_box], layout=W.Layout(width=f"{CONTROLS_PX + 16}px"))
        self.view = W.VBox([self.image, self.message, self.legend],
                           layout=W.Layout(width=f"{E.composed_width(E.VIEW_SIZE) + 16}px"))
        self.widget = W.HBox([self.controls, self.view], layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.refresh()

    def rows(self) -> list[W.Box]:
        """The rows of the controls column, top to bottom (the layout test sums their widths and heights)."""
        top = list(self.controls.children[:3])
        return top + [row for group in self.chunk_box.children for row in group.children]

    def row_width(self, row: W.Box) -> int:
        """The declared width of ``row`` in px: the sum of its children's."""
        return sum(_px(w) for w in row.children)

    # --- building and syncing controls --------------------------------------------------

    def _build_chunk_controls(self) -> None:
        gen = E.generator(self.state.generator, self.device)
        rows, self.sliders, self.boxes = [], {}, {}
        style = {"description_width": "60px"}  # a seed step is ~4 px of track at 220 px
        half = W.Layout(width=f"{CONTROLS_PX // 2}px")
        for k, (c, ctl) in enumerate(zip(gen.chunks, self.state.chunks)):
            seed = W.IntSlider(value=ctl.seed, min=0, max=E.SEED_MAX, step=1, description="seed",
                               continuous_update=False, style=style, layout=W.Layout(width="220px"),
                               tooltip=TIPS["seed"], readout=False)
            seed_box = W.BoundedIntText(value=ctl.seed, min=0, max=E.SEED_MAX, layout=W.Layout(width="60px"),
                                        tooltip=TIPS["seed"])
            W.link((seed, "value"), (seed_box, "value"))
            alpha = W.FloatSlider(value=ctl.alpha, min=-E.ALPHA_MAX, max=E.ALPHA_MAX, step=0.25, description="direction",
                                  continuous_update=False, style=style, layout=half, tooltip=TIPS["alpha"])
            sigma = W.FloatSlider(value=ctl.sigma, min=0, max=E.SIGMA_MAX, step=0.05, description="σ",
                                  continuous_update=False, style=style, layout=half, tooltip=TIPS["sigma"])
            lock = W.Checkbox(value=ctl.locked, description="lock", indent=False, tooltip=TIPS["lock"],
                              layout=W.Layout(width="70px"))
            for name, w in (("seed", seed), ("alpha", alpha), ("sigma", sigma), ("lock", lock)):
                self.sliders[f"chunk{k}_{name}"] = w
                w.observe(self._on_change, names="value")
            self.boxes[f"chunk{k}_seed"] = seed_box
            text = chunk_label(k, c.name, len(gen.chunks))
            name = W.HTML(f"<b style='white-space:nowrap' title='{html.escape(text, quote=True)}'>"
                          f"{html.escape(text)}</b>",
                          layout=W.Layout(width=f"{max(NAME_PX, 8 * len(text))}px", overflow="visible"))
            rows.append(W.VBox([W.HBox([name, seed, seed_box, lock]), W.HBox([alpha, sigma])]))
        self.chunk_box.children = rows
        self._apply_locks()

    def _apply_locks(self) -> None:
        """A locked chunk's seed, direction and σ controls are frozen (disabled) while it is locked."""
        for k in range(len(self.state.chunks)):
            locked = self.sliders[f"chunk{k}_lock"].value
            for w in (self.sliders[f"chunk{k}_seed"], self.boxes[f"chunk{k}_seed"], self.sliders[f"chunk{k}_alpha"],
                      self.sliders[f"chunk{k}_sigma"]):
                w.disabled = locked
            self.sliders[f"chunk{k}_lock"].description = "locked" if locked else "lock"

    def _sync_controls(self) -> None:
        """Push ``state`` into the controls without triggering renders."""
        self._busy = True
        try:
            self.truncation.value = self.state.truncation
            self.dir_mode.value = self.state.directions
            for k, ctl in enumerate(self.state.chunks):
                self.sliders[f"chunk{k}_seed"].value = ctl.seed
                self.sliders[f"chunk{k}_alpha"].value = ctl.alpha
                self.sliders[f"chunk{k}_sigma"].value = ctl.sigma
                self.sliders[f"chunk{k}_lock"].value = ctl.locked
            self._apply_locks()
        finally:
            self._busy = False

    def _on_pick(self, change) -> None:
        if not self._busy and change["new"]:
            self.set_generator(change["new"])

    def _on_change(self, _change=None) -> None:
        if self._busy:
            return
        self.state.truncation = self.truncation.value
        self.state.directions = self.dir_mode.value
        for k, ctl in enumerate(self.state.chunks):
            ctl.seed = self.sliders[f"chunk{k}_seed"].value
            ctl.alpha = self.sliders[f"chunk{k}_alpha"].value
            ctl.sigma = self.sliders[f"chunk{k}_sigma"].value
            ctl.locked = self.sliders[f"chunk{k}_lock"].value
        self._apply_locks()
        self.refresh()

    # --- actions ---------------------------------------------------------------------------

    def refresh(self) -> E.Rendered | None:
        try:
            self.rendered = E.render(self.state, oracle=self.oracle, device=self.device)
        except E.ExplorerError as e:
            self.message.value = f"<span style='color:#b00'>{e}</span>"
            return None
        self.image.value = self.rendered.png
        agree = sum(lab == self.rendered.labels[0] for lab in self.rendered.labels[1:])
        moving = [k for k, c in enumerate(self.state.chunks) if c.sigma > 0 and not c.locked]
        locked = [k for k, c in enumerate(self.state.chunks) if c.locked]
        self.message.value = (
            f"anchor: <b>{self.rendered.labels[0]}</b> ({self.rendered.confidences[0]:.2f}); "
            + (f"positives agree with the anchor: {agree}/{self.state.n_positives} (σ > 0 on chunk(s) "
               f"{', '.join(map(str, moving))})" if moving else
               "σ = 0 on every unlocked chunk: the positives are copies of the anchor")
            + (f"; locked: chunk(s) {', '.join(map(str, locked))}" if locked else "") + self._note)
        self._note = ""
        return self.rendered

    def set_generator(self, name: str) -> None:
        try:
            new = E.default_state(name, self.device)
        except E.ExplorerError as e:
            self.message.value = f"<span style='color:#b00'>{e}</span>"
            return
        old = self.state
        new.anchor_seed, new.n_positives, new.directions = old.anchor_seed, old.n_positives, old.directions
        kept = ["anchor", "positives", "directions"]
        if E.TRUNCATION_MIN <= old.truncation <= E.TRUNCATION_MAX:
            new.truncation = old.truncation
            kept.append("truncation")
        if len(old.chunks) == len(new.chunks):
            new.chunks = [E.ChunkControl(**vars(c)) for c in old.chunks]
            kept.append("chunk controls")
            reset = ""
        else:
            reset = f"; chunk controls reset ({len(old.chunks)} chunks → {len(new.chunks)})"
        self._note = f"<br>switched to {name}: kept {', '.join(kept)}{reset}"
        self.state = new
        self._busy = True
        self._build_chunk_controls()
        self._busy = False
        self._sync_controls()
        self.refresh()

    def _new_anchor(self) -> None:
        self.state.anchor_seed += 1
        self.state.positive_seed += 1
        self.refresh()

    def reset(self) -> None:
        old = self.state
        self.state = E.default_state(old.generator, self.device)
        self.state.anchor_seed, self.state.n_positives = old.anchor_seed, old.n_positives
        self._sync_controls()
        self.refresh()

    def export(self, stem: str | Path | None = None) -> tuple[Path, Path] | None:
        if getattr(self, "rendered", None) is None:
            return None
        stem = Path(stem) if stem else self.figures_dir / f"explorer_{self.state.generator}_{self.state.anchor_seed}"
        paths = E.export(self.state, self.rendered, stem)
        self.message.value = f"exported {paths[0]} and {paths[1]}"
        return paths

    def import_settings(self, path_or_text: str) -> bool:
        try:
            state = E.load_settings(path_or_text, self.device)
        except Exception as e:  # noqa: BLE001 - any bad file becomes a message, never a traceback
            self.message.value = f"<span style='color:#b00'>import failed: {e}</span>"
            return False
        if state.generator != self.state.generator:
            self.state = state
            self._busy = True
            self._build_chunk_controls()
            self._busy = False
        self.state = state
        self._sync_controls()
        if state.generator in G.SHIPPED:
            self._busy = True
            self.picker.value = state.generator
            self._busy = False
        self.refresh()
        return True

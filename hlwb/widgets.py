"""The latent explorer widget: a thin ipywidgets view over :func:`hlwb.explorer.render`.

One control group per chunk (global -> fine): a seed slider (resample only that chunk), a
direction slider (walk along a random or principal direction), a sigma slider (noise scale
of the positives), and a lock box. Plus a generator picker, truncation, "new anchor",
"reset", export and import. One ``widgets.Image`` holds the composed PNG; every slider uses
``continuous_update=False`` so dragging never queues renders. Errors (a bad JSON, an unknown
generator) are shown in a message line, not raised.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W

from . import explorer as E
from . import generators as G


class LatentExplorer:
    """``LatentExplorer().widget`` is the UI; ``sliders``, ``image`` and ``state`` are for tests."""

    def __init__(self, generator: str = "biggan", figures_dir: str | Path = "figures", n_positives: int = 6,
                 anchor_seed: int = 0):
        self.figures_dir = Path(figures_dir)
        self.state = E.default_state(generator)
        self.state.n_positives, self.state.anchor_seed = n_positives, anchor_seed
        self.message = W.HTML(value="")
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.picker = W.Dropdown(options=sorted(G.SHIPPED), value=generator if generator in G.SHIPPED else None,
                                 description="generator")
        self.path = W.Text(placeholder="or a checkpoint path", layout=W.Layout(width="260px"))
        self.load_btn = W.Button(description="load")
        self.truncation = W.FloatSlider(value=self.state.truncation, min=0.2, max=E.TRUNCATION_MAX, step=0.1,
                                        description="truncation", continuous_update=False)
        self.dir_mode = W.ToggleButtons(options=["random", "pca"], value="random", description="directions")
        self.new_anchor = W.Button(description="new anchor")
        self.reset_btn = W.Button(description="reset")
        self.export_btn = W.Button(description="export")
        self.import_text = W.Text(placeholder="settings .json path", layout=W.Layout(width="260px"))
        self.import_btn = W.Button(description="import")
        self.chunk_box = W.VBox()
        self.sliders: dict[str, W.Widget] = {}
        self._busy = False

        self.load_btn.on_click(lambda _: self.set_generator(self.path.value.strip()))
        self.picker.observe(self._on_pick, names="value")
        self.truncation.observe(self._on_change, names="value")
        self.dir_mode.observe(self._on_change, names="value")
        self.new_anchor.on_click(lambda _: self._new_anchor())
        self.reset_btn.on_click(lambda _: self.reset())
        self.export_btn.on_click(lambda _: self.export())
        self.import_btn.on_click(lambda _: self.import_settings(self.import_text.value.strip()))
        self._build_chunk_controls()
        self.widget = W.VBox([
            W.HBox([self.picker, self.path, self.load_btn]),
            W.HBox([self.truncation, self.dir_mode]),
            W.HBox([self.new_anchor, self.reset_btn, self.export_btn, self.import_text, self.import_btn]),
            self.chunk_box, self.image, self.message,
        ])
        self.refresh()

    # --- building and syncing controls --------------------------------------------------

    def _build_chunk_controls(self) -> None:
        gen = E.generator(self.state.generator)
        rows, self.sliders = [], {}
        style, lay = {"description_width": "62px"}, W.Layout(width="250px")
        for k, (c, ctl) in enumerate(zip(gen.chunks, self.state.chunks)):
            seed = W.IntSlider(value=ctl.seed, min=0, max=E.SEED_MAX, description="seed", continuous_update=False,
                             style=style, layout=lay)
            alpha = W.FloatSlider(value=ctl.alpha, min=-E.ALPHA_MAX, max=E.ALPHA_MAX, step=0.25, description="direction",
                                  continuous_update=False, style=style, layout=lay)
            sigma = W.FloatSlider(value=ctl.sigma, min=0, max=E.SIGMA_MAX, step=0.05, description="σ",
                                  continuous_update=False, style=style, layout=lay)
            lock = W.Checkbox(value=ctl.locked, description="lock", indent=False)
            for name, w in (("seed", seed), ("alpha", alpha), ("sigma", sigma), ("lock", lock)):
                self.sliders[f"chunk{k}_{name}"] = w
                w.observe(self._on_change, names="value")
            rows.append(W.HBox([W.Label(f"{k}: {c.name}", layout=W.Layout(width="150px")), seed, alpha, sigma, lock],
                               layout=W.Layout()))
        self.chunk_box.children = rows

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
        self.refresh()

    # --- actions ---------------------------------------------------------------------------

    def refresh(self) -> E.Rendered | None:
        try:
            self.rendered = E.render(self.state)
        except E.ExplorerError as e:
            self.message.value = f"<span style='color:#b00'>{e}</span>"
            return None
        self.image.value = self.rendered.png
        self.message.value = (f"anchor: <b>{self.rendered.labels[0]}</b> ({self.rendered.confidences[0]:.2f}); positives agree with the anchor: {sum(lab == self.rendered.labels[0] for lab in self.rendered.labels[1:])}/{self.state.n_positives}")
        return self.rendered

    def set_generator(self, name: str) -> None:
        try:
            new = E.default_state(name)
        except E.ExplorerError as e:
            self.message.value = f"<span style='color:#b00'>{e}</span>"
            return
        new.anchor_seed, new.n_positives = self.state.anchor_seed, self.state.n_positives
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
        self.state = E.default_state(old.generator)
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
            state = E.load_settings(path_or_text)
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

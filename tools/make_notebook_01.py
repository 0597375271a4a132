"""Writes notebooks/01_hl_generator.ipynb (the source of the notebook's cells, for review)."""
import nbformat as nbf

cells = []
def md(s): cells.append(nbf.v4.new_markdown_cell(s))
def code(s, tags=()):
    c = nbf.v4.new_code_cell(s); c.metadata["tags"] = list(tags); cells.append(c)

md("""# 01 · HL generators and their hierarchy

Loads the shipped hierarchical-latent generators (or trains one when `train` is true), shows
samples, and makes the hierarchy visible: each row is an anchor, each column resamples **one**
latent chunk, from the global chunk 0 to the finest. The oracle (a supervised classifier on real
Fashion-MNIST) then measures it: how often does the anchor's label survive resampling chunk k?
For a hierarchical generator this agreement should rise from the global to the finest chunk.""")
code('''run_dir: str = "runs/laptop/01_hl_generator"  # outputs (relative paths: from the repository root)
figures_dir: str = ""  # figure files ("" -> <run_dir>/figures)
generators: str = "biggan"  # comma-separated shipped names or checkpoint paths
train: bool = False  # train a generator instead of loading the shipped one
train_steps: int = 7000  # generator steps when train is true
n_samples: int = 10000  # samples for FD_oracle and the class histogram
n_test: int = 10000  # real test images FD_oracle compares against
n_anchors: int = 1000  # anchors for the per-chunk agreement table
grid_anchors: int = 8  # rows of the hierarchy figure
seed: int = 0  # seed of every draw in the notebook''', tags=["parameters"])
code('''import json

import pandas as pd
from IPython.display import Image, display

from hlwb import config, data, hierarchy, plots, quality
from hlwb import oracle as oracle_mod
from hlwb.checkpoint import atomic_write_json
from hlwb.generators.training import obtain

cfg = config.from_namespace("01_hl_generator", globals())
out = config.resolve_path(cfg.run_dir)
fig_dir = config.resolve_path(cfg.figures_dir) if cfg.figures_dir else out / "figures"
out.mkdir(parents=True, exist_ok=True)
config.save(cfg, out)
names = [s.strip() for s in cfg.generators.split(",") if s.strip()]
gens = {name: obtain(name, cfg.train, out, cfg.train_steps, cfg.seed) for name in names}
oracle = oracle_mod.load()''')
md("The chunk layout of each generator, ordered from global (0) to fine:")
code('''for name, gen in gens.items():
    print(f"{name} ({gen.family}): {len(gen.chunks)} chunks")
    for c in gen.chunks:
        print(f"  chunk {c.level}: {c.name:<14} dim {c.dim}")''', tags=["nbval-check-output", "keep_output"])
md("## Samples")
code('''for name, gen in gens.items():
    x = quality.sample_images(gen, 50, seed=cfg.seed)
    display(Image(filename=str(plots.save_grid(x, fig_dir / f"{name}_samples.png", ncol=10))))''',
     tags=["keep_output"])
md("""## The hierarchy

Column 0 is the anchor; then two resamples of each chunk, global → fine.""")
code('''for name, gen in gens.items():
    grid, titles = hierarchy.resample_grid(gen, n_anchors=cfg.grid_anchors, per_chunk=2, seed=cfg.seed)
    path = plots.save_hierarchy_figure(grid, titles, fig_dir / f"{name}_hierarchy.png",
                                       title=f"{name}: resample one chunk (global -> fine)")
    display(Image(filename=str(path), width=560))''', tags=["keep_output"])
md("""## Quality, measured with the oracle

FD_oracle: Fréchet distance in the oracle's 256-d feature space between generated samples and
the real test set, next to the same distance between a real training subset of equal size and
the test set (the real-vs-real floor). The class histogram is the oracle's labels of the samples.""")
code('''test_feats = quality.test_features(oracle, cfg.n_test)
ref = quality.real_reference(oracle, test_feats, n=cfg.n_samples, seed=cfg.seed)
rows, hists = [], {}
for name, gen in gens.items():
    x = quality.sample_images(gen, cfg.n_samples, seed=cfg.seed)
    fd = quality.frechet_distance(oracle.features(x), test_feats)
    hists[name] = quality.class_histogram(oracle, x)
    rows.append({"generator": name, "n": cfg.n_samples, "n_test": cfg.n_test, "FD_oracle": fd, "FD_real_vs_real": ref,
                 "ratio": fd / ref, "min_class_fraction": min(hists[name])})
fd_table = pd.DataFrame(rows)
hist_table = pd.DataFrame(hists, index=data.FASHION_CLASSES)
fd_table.to_csv(out / "fd_oracle.csv", index=False)
hist_table.to_csv(out / "class_histogram.csv")
print(fd_table.round(3).to_string(index=False))
print()
print((100 * hist_table).round(1).to_string())''', tags=["keep_output"])
md("""## Per-chunk oracle agreement

For each chunk k: the fraction of anchors whose oracle label is unchanged when only chunk k is
resampled (±95 % interval), the mean KL between the oracle's posteriors, and the RMS pixel change.""")
code('''tables = {name: hierarchy.chunk_agreement(gen, oracle, n_anchors=cfg.n_anchors, seed=cfg.seed)
          for name, gen in gens.items()}
agree = pd.concat([pd.DataFrame(t).assign(generator=name) for name, t in tables.items()])
agree.to_csv(out / "chunk_agreement.csv", index=False)
agree.to_csv(fig_dir / "chunk_agreement.csv", index=False)
png, html = plots.save_agreement_plot(tables, fig_dir / "chunk_agreement")
print(agree[["generator", "chunk", "name", "agreement", "ci95", "kl", "pixel_rms"]].round(3).to_string(index=False))
display(Image(filename=str(png), width=400))''', tags=["keep_output"])
md("## Result")
code('''results = {}
for name, t in tables.items():
    r = fd_table.set_index("generator").loc[name]
    results[name] = {"fd_oracle": float(r.FD_oracle), "fd_real_vs_real": float(r.FD_real_vs_real),
                     "min_class_fraction": float(r.min_class_fraction),
                     "rises_global_to_fine": hierarchy.rises_global_to_fine(t),
                     **{f"agreement_chunk{row['chunk']}": row["agreement"] for row in t}}
    a = " -> ".join(f"{row['agreement']:.2f}" for row in t)
    verdict = "rises monotonically" if results[name]["rises_global_to_fine"] else "does NOT rise monotonically"
    print(f"{name}: oracle agreement from global to finest chunk {a}: it {verdict} "
          f"(over {cfg.n_anchors} anchors). FD_oracle {r.FD_oracle:.2f} vs real-vs-real "
          f"{r.FD_real_vs_real:.2f} ({r.ratio:.1f}x); smallest class {100 * r.min_class_fraction:.1f} % of samples.")
atomic_write_json(out / "results.json", results)''', tags=["keep_output"])

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
               "language_info": {"name": "python"}}
nbf.validator.normalize(nb)
nbf.write(nb, "notebooks/01_hl_generator.ipynb")

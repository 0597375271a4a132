"""The committed notebooks are clean, parameterised and free of reusable code.

nbval executes them (smoke profile) when the test command collects ``notebooks/``.
"""

import ast

import nbformat
import pytest

from hlwb import config

NOTEBOOKS = sorted((config.REPO_ROOT / "notebooks").glob("*.ipynb"))


CLEAN_METADATA = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
                  "language_info": {"name": "python"}}


def _nbstripout_args() -> list[str]:
    import re
    import shlex

    line = re.search(r"^NBSTRIPOUT_ARGS := (.*)$", (config.REPO_ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert line, "the Makefile defines the git filter's arguments"
    return shlex.split(line.group(1))


def test_the_git_filter_undoes_what_a_jupyterlab_save_adds(tmp_path):
    """`make env` installs nbstripout as the notebooks' git filter; what JupyterLab writes on save
    (language_info details, widget state, cell execution times, outputs of plain cells) comes out."""
    import subprocess
    import sys

    src = config.REPO_ROOT / "notebooks" / "06_transfer.ipynb"
    nb = nbformat.read(str(src), as_version=4)
    nb.metadata["language_info"].update({"version": "3.11.2", "mimetype": "text/x-python", "pygments_lexer": "ipython3",
                                         "codemirror_mode": {"name": "ipython", "version": 3},
                                         "file_extension": ".py", "nbconvert_exporter": "python"})
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    plain = next(c for c in nb.cells if c.cell_type == "code" and "keep_output" not in c.metadata.get("tags", []))
    plain.metadata["execution"] = {"iopub.status.busy": "2026-12-01T00:00:00Z"}
    plain.metadata["scrolled"] = True
    plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text="noise\n")]
    dirty = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(dirty))
    out = subprocess.run([sys.executable, "-m", "nbstripout", *_nbstripout_args(), "-t", str(dirty)],
                         capture_output=True, text=True, check=True).stdout
    assert nbformat.reads(out, as_version=4) == nbformat.read(str(src), as_version=4)
    assert (config.REPO_ROOT / ".gitattributes").read_text().count("*.ipynb filter=nbstripout") == 1


def test_every_stage_has_a_notebook():
    assert [p.stem for p in NOTEBOOKS] == sorted(config.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata == CLEAN_METADATA, "notebook metadata other than the published form (saved by JupyterLab?)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"], "first code cell must be the parameters cell"
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    for c in code:
        tags = c.metadata.get("tags", [])
        assert "injected-parameters" not in tags
        assert set(c.metadata) <= {"tags"}, f"cell metadata {set(c.metadata)}"
        if "keep_output" not in tags:
            assert c.outputs == [], "outputs kept outside result cells"
        tree = ast.parse(c.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defs, "reusable code belongs in hlwb/, not in a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_top_to_bottom(path):
    nb = nbformat.read(str(path), as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(counts) and counts == list(range(1, len(counts) + 1)), "commit the executed notebook"
    kept = [c for c in nb.cells if "keep_output" in c.metadata.get("tags", [])]
    assert kept and all(c.outputs for c in kept), "result cells must keep their outputs"


@pytest.mark.parametrize("stage", list(config.NOTEBOOKS))
def test_interactive_runs_write_under_a_scratch_folder_and_the_pipeline_under_its_own(stage, tmp_path):
    from hlwb import pipeline

    cfg = config.NOTEBOOKS[stage]()
    assert cfg.run_dir.startswith("runs/interactive/")  # never runs/laptop/, which the pipeline and publish own
    assert pipeline.stage_params(stage, "laptop", tmp_path)["run_dir"] == str(tmp_path / stage)


def test_a_missing_earlier_stage_says_the_command_and_its_time(tmp_path):
    from hlwb import generators, published, transfer, views

    times = published.stage_times()
    assert times["05_contrastive_pretraining"] > 0  # the published laptop run's stage times
    with pytest.raises(FileNotFoundError) as e:
        transfer.find_encoders(tmp_path)
    line = str(e.value)
    # the laptop profile runs 05 without walkers: 04 then 05, no 03, which only laptop_side runs
    assert "\n" not in line and "`python -m hlwb pipeline --only 04_chunk_perturbations && " in line
    assert "--only 05_contrastive_pretraining` writes it into runs/laptop/" in line and "03_walkers" not in line
    want = published.duration(times["04_chunk_perturbations"] + times["05_contrastive_pretraining"])
    assert f"({want} on the laptop profile, figures/results_laptop.json)" in line and "h" in published.duration(7300)
    full = {s: 1500.0 for s in ("04_chunk_perturbations", "05_contrastive_pretraining")}
    assert f"({published.duration(3000.0)} on the laptop profile" in published.producer(
        "05_contrastive_pretraining", times=full)
    with pytest.raises(FileNotFoundError, match=r"hl_rule='paper'.*--only 04_chunk_perturbations` .*about \d+ min"):
        views.load_hl_sigmas(tmp_path / "hl_sigmas.json", "biggan")
    with pytest.raises(FileNotFoundError, match=r"--profile laptop_side --only 03_walkers` writes it into "
                                                r"runs/laptop_side/ \("):
        views.learned_walker("hl_learned", generators.load("biggan", device="cpu"), tmp_path / "walkers")
    from hlwb import study

    with pytest.raises(FileNotFoundError, match="pretraining sweep.*--only 05_contrastive_pretraining`"):
        study.best_hl_arm({})  # notebooks 06 and 08 in a clone without the sweep
    side = published.stage_times(published.results_file("laptop_side"))
    line = published.producer("08_ood")  # laptop_side's stages, timed by its published run when there is one
    assert line.startswith("`python -m hlwb pipeline --profile laptop_side --only 03_walkers && ")
    if {"03_walkers", "04_chunk_perturbations", "05_contrastive_pretraining", "06_transfer", "08_ood"} <= set(side):
        assert "on the laptop_side profile, figures/results_laptop_side.json)" in line
    else:
        assert line.endswith("(its time is not recorded in this checkout)")
    assert published.producer("03_walkers", times={}).endswith("(its time is not recorded in this checkout)")
    assert published.needed("08_ood") == ["03_walkers", "04_chunk_perturbations", "05_contrastive_pretraining",
                                          "06_transfer", "08_ood"]
    assert [published.profile_of(s) for s in ("01_hl_generator", "03_walkers", "07_representation_generation",
                                              "08_ood")] == ["laptop", "laptop_side", "laptop", "laptop_side"]

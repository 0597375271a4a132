import json

import nbformat
import pytest

from hlwb import pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke_run")
    summary = pipeline.run_pipeline("smoke", out=out)
    return out, summary


def test_smoke_pipeline_end_to_end(smoke_run):
    out, summary = smoke_run
    stage = out / "01_hl_generator"
    assert (stage / "01_hl_generator.ipynb").exists()
    assert json.loads((stage / "config.json").read_text())["n_anchors"] == 200  # smoke value
    res = json.loads((stage / "results.json").read_text())
    assert set(res["biggan"]) >= {"fd_oracle", "fd_real_vs_real", "agreement_chunk0", "agreement_chunk3"}
    assert res["biggan"]["fd_oracle"] > 0
    for f in ("biggan_samples.png", "biggan_hierarchy.png", "chunk_agreement.png", "chunk_agreement.html",
              "chunk_agreement.csv"):
        assert (out / "figures" / f).stat().st_size > 0, f
    assert "01_hl_generator" in summary and (out / "summary.md").exists()
    s = json.loads((out / "summary.json").read_text())
    assert s["stages"]["01_hl_generator"]["status"] == "ran"


def test_unchanged_stage_is_not_run_again(smoke_run):
    out, _ = smoke_run
    pipeline.run_pipeline("smoke", out=out)
    s = json.loads((out / "summary.json").read_text())
    assert s["stages"]["01_hl_generator"]["status"] == "cached"


def test_published_notebook_is_clean(smoke_run, tmp_path):
    out, _ = smoke_run
    dest = pipeline.publish_notebook(out / "01_hl_generator" / "01_hl_generator.ipynb", tmp_path / "nb.ipynb")
    nb = nbformat.read(str(dest), as_version=4)
    assert "papermill" not in nb.metadata
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(counts) and counts == sorted(counts)  # executed top to bottom
    for c in nb.cells:
        if c.cell_type == "code" and "keep_output" not in c.metadata.get("tags", []):
            assert c.outputs == []


def test_failing_cell_is_reported_with_partial_notebook(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("run_dir = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, str(tmp_path / "nbs" / "01_hl_generator.ipynb"))
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setattr(pipeline, "stage_params", lambda stage, profile, out: {"run_dir": str(out / stage)})
    with pytest.raises(pipeline.PipelineError) as e:
        pipeline.run_pipeline("smoke", out=tmp_path / "run")
    msg = str(e.value)
    assert "01_hl_generator" in msg and "ValueError" in msg and "broken on purpose" in msg and "cell" in msg
    partial = tmp_path / "run" / "01_hl_generator" / "01_hl_generator.ipynb"
    assert partial.exists() and "fine" in partial.read_text()
    assert json.loads((tmp_path / "run" / "01_hl_generator" / "stage.json").read_text())["status"] == "failed"


def test_stage_state_kept_for_a_resume_and_cleared_when_the_stage_changed(tmp_path, monkeypatch):
    src = ("import json, pathlib\n"
           "d = pathlib.Path(run_dir)\n"
           "(d / 'seen.txt').write_text(str((d / 'state.txt').exists()))\n"
           "(d / 'state.txt').write_text('training state')\n"
           "json.dump({}, open(d / 'results.json', 'w'))\n")

    def write(extra: str = "") -> None:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell("run_dir = ''", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(src + extra)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(tmp_path / "nbs" / "01_hl_generator.ipynb"))

    (tmp_path / "nbs").mkdir()
    write()
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setattr(pipeline, "stage_params", lambda stage, profile, out: {"run_dir": str(out / stage)})
    stage = tmp_path / "run" / "01_hl_generator"
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "False"
    marker = json.loads((stage / "stage.json").read_text())
    (stage / "stage.json").write_text(json.dumps({**marker, "status": "failed"}))  # as if killed
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "True"  # same stage: its state is resumed
    write("# changed\n")
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "False"  # changed stage: old state cleared

"""Your own generator by file (docs/own_generator.md): a family defined in a module outside the package,
saved with hlwb, loaded in new processes with the module named by the user, refused otherwise."""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from hlwb import generators as G
from hlwb.generators import modules

MODULE = textwrap.dedent('''
    """A user's generator family: three chunks, one linear layer (a test double of a real one)."""
    import torch
    from torch import nn

    from hlwb import latents as L
    from hlwb.generators import HLGenerator
    from hlwb.spec import ImageSpec


    class TinyGen(HLGenerator):
        family = "tiny_own"

        def __init__(self, chunk_dim: int = 4, channels: int = 1, size: int = 32):
            super().__init__()
            self.spec = ImageSpec(channels, size)
            self.chunk_dim = chunk_dim
            self.chunks = tuple(L.Chunk(n, chunk_dim, k) for k, n in enumerate(["global", "middle", "fine"]))
            self.lin = nn.Linear(3 * chunk_dim, channels * size * size)

        def forward(self, latents):
            x = self.lin(torch.cat(latents, 1))  # (N, C*S*S)
            return torch.tanh(x).view(-1, self.spec.channels, self.spec.size, self.spec.size)

        def config(self):
            return {"chunk_dim": self.chunk_dim, "channels": self.spec.channels, "size": self.spec.size}

        @classmethod
        def from_spec(cls, spec, **config):
            return cls(channels=spec.channels, size=spec.size, **config)
''')

# the smoke path of notebooks 02-05 on the saved generator, in a new process that names the module
SMOKE = textwrap.dedent('''
    import sys

    from hlwb import generators as G, minmax, perturbation, views
    from hlwb import oracle as oracle_mod
    from hlwb.widgets import LatentExplorer

    gen_file, module, work = sys.argv[1:4]
    print("families", G.use(module))
    orc = oracle_mod.load(device="cpu")
    ex = LatentExplorer(gen_file, figures_dir=work, n_positives=2, device="cpu", oracle=orc)  # 02
    assert ex.rendered.positives.shape == (2, 1, 32, 32), ex.message.value
    gen = G.load(gen_file, device="cpu")
    minmax.train_walker(gen, [1], minmax.MinMaxConfig(steps=1, batch=4, critic_width=4),  # 03
                        work_dir=work + "/walker", device="cpu")
    a = perturbation.anchors(gen, orc, 8, seed=0, device="cpu")  # 04
    r = perturbation.sweep(gen, orc, a, 2, [0.0, 1.0], seed=0, device="cpu")
    assert r["agree"].shape == (2, 8) and r["agree"][0].all()
    x1, x2 = views.make_source("hl_random", batch=4, generator=gen_file, device="cpu").batch_at(0)  # 05
    assert x1.shape == x2.shape == (4, 1, 32, 32)
    print("smoke ok")
''')


@pytest.fixture
def own(tmp_path, monkeypatch):
    """The module written outside the package, its generator saved; the registry restored afterwards."""
    monkeypatch.setenv(modules.ENV, "")  # restored after the test (use() extends it)
    monkeypatch.setattr(G, "GENERATORS", G.GENERATORS)  # restored below: use() registers into it
    before, used = dict(G.GENERATORS), dict(modules._USED)
    (tmp_path / "my_own_gen.py").write_text(MODULE)
    yield tmp_path
    G.GENERATORS.clear()
    G.GENERATORS.update(before)
    modules._USED.clear()
    modules._USED.update(used)
    sys.modules.pop("my_own_gen", None)


def _saved(d) -> str:
    assert modules.use(str(d / "my_own_gen.py")) == ["tiny_own"]
    cls = G.GENERATORS["tiny_own"]
    g = torch.Generator().manual_seed(0)
    gen = cls()
    with torch.no_grad():
        for p in gen.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    G.save(d / "mine.pt", gen)
    return str(d / "mine.pt")


def _env(d, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != modules.ENV}
    return {**env, "PYTHONPATH": os.pathsep.join([str(d), env.get("PYTHONPATH", "")]), **extra}


def test_the_file_records_module_and_sha256_and_loads_only_when_named(own):
    path = _saved(own)
    state = torch.load(path, weights_only=True)
    want = hashlib.sha256((own / "my_own_gen.py").read_bytes()).hexdigest()
    assert state["module"] == {"name": "my_own_gen", "class": "TinyGen", "sha256": want}
    assert G.load(path, device="cpu").family == "tiny_own"  # this process named it
    del G.GENERATORS["tiny_own"]  # as a new process that was not told: refused, never imported
    modules._USED.clear()
    os.environ.pop(modules.ENV, None)
    sys.modules.pop("my_own_gen")
    with pytest.raises(G.GeneratorModuleError, match="--generator-module my_own_gen.*HLWB_GENERATOR_MODULES"):
        G.load(path, device="cpu")
    assert "my_own_gen" not in sys.modules


def test_a_changed_module_source_is_refused_with_the_fix(own):
    path = _saved(own)
    (own / "my_own_gen.py").write_text(MODULE + "\n# edited\n")
    for name in ("tiny_own",):
        del G.GENERATORS[name]
    modules._USED.clear()
    sys.modules.pop("my_own_gen")
    modules.use(str(own / "my_own_gen.py"))
    with pytest.raises(G.GeneratorModuleError, match="SHA-256.*Restore the module's source"):
        G.load(path, device="cpu")
    assert G.load(path, device="cpu", verify_module=False).family == "tiny_own"


def test_a_class_no_other_process_can_import_is_refused_at_save(own, tmp_path):
    base = G.GENERATORS["biggan"]

    class Local(base):  # defined in a function, as in a notebook cell
        family = "local"

    with pytest.raises(G.GeneratorModuleError, match="Move the class into a module file"):
        G.save(tmp_path / "local.pt", Local(ch=2, chunk_dim=2))
    assert not (tmp_path / "local.pt").exists()
    with pytest.raises(G.GeneratorModuleError, match="defines no HLGenerator subclass"):
        (tmp_path / "empty_mod.py").write_text("x = 1\n")
        modules.use(str(tmp_path / "empty_mod.py"))
    sys.modules.pop("empty_mod", None)
    with pytest.raises(G.GeneratorModuleError, match="PYTHONPATH"):
        modules.use("no_such_module_anywhere")


def test_smoke_path_of_notebooks_02_to_05_in_a_new_process(own):
    path = _saved(own)
    script = own / "smoke.py"
    script.write_text(SMOKE)
    r = subprocess.run([sys.executable, str(script), path, "my_own_gen", str(own / "work")], env=_env(own), check=False,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "smoke ok" in r.stdout, r.stderr[-3000:]


def test_pretrain_by_file_on_the_command_line(own, capsys):
    from hlwb import cli

    path = _saved(own)
    flags = ["pretrain", "--generator", path, "--strategy", "hl_random", "--steps", "2", "--batch", "4", "--width", "4",
             "--warmup", "1", "--knn-every", "0", "--knn-train", "200", "--knn-test", "20", "--work-dir", str(own / "pre")]
    del G.GENERATORS["tiny_own"]  # as a process that was not told
    modules._USED.clear()
    os.environ[modules.ENV] = ""
    sys.modules.pop("my_own_gen")
    assert cli.main(flags) == 2 and "--generator-module my_own_gen" in capsys.readouterr().err
    r = subprocess.run([sys.executable, "-m", "hlwb", *flags, "--generator-module", "my_own_gen"], env=_env(own),
                       capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert torch.load(own / "pre" / "encoder.pt", weights_only=True)["meta"]["generator"] == path


def test_a_module_or_model_object_is_not_a_generator_file(own):
    import types

    for wrong in (types.ModuleType("my_gen"), G.GENERATORS["biggan"](ch=2, chunk_dim=2)):
        with pytest.raises(TypeError, match="shipped name .* or a checkpoint path.*generators.save"):
            G.load(wrong, device="cpu")


def test_the_pipeline_takes_your_generator_for_stages_02_to_05(own, tmp_path):
    from hlwb import pipeline

    path = _saved(own)
    out = tmp_path / "run"
    assert pipeline.set_generator(out, path) == Path(path).resolve()
    assert pipeline.run_overrides(out) == {"generator": str(Path(path).resolve())}
    for stage in pipeline.OWN_GENERATOR_STAGES:
        p = pipeline.stage_params(stage, "smoke", out)
        assert p.get("generator", p.get("generators")) == str(Path(path).resolve()), stage
    assert pipeline.stage_params("01_hl_generator", "smoke", out)["generators"] != str(Path(path).resolve())
    assert pipeline.stage_params("06_transfer", "smoke", tmp_path / "plain").get("generator") is None
    # a file whose module this process was not told about is refused before any stage runs
    del G.GENERATORS["tiny_own"]
    modules._USED.clear()
    os.environ.pop(modules.ENV, None)
    sys.modules.pop("my_own_gen")
    with pytest.raises(G.GeneratorModuleError, match="--generator-module my_own_gen"):
        pipeline.run_pipeline("smoke", out=tmp_path / "refused", generator=path)
    assert not (tmp_path / "refused" / pipeline.OVERRIDES).exists()
    with pytest.raises(pipeline.PipelineError, match="no such file"):
        pipeline.set_generator(tmp_path / "x", tmp_path / "missing.pt")

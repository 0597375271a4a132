"""Test-wide settings: headless progress bars, the smoke profile for notebooks run by nbval."""

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

os.environ.setdefault("HLWB_HEADLESS", "1")
os.environ.setdefault("HLWB_PROGRESS", "0")
os.environ.setdefault("HLWB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "agg")
os.environ.setdefault("HLWB_DEVICE", "cpu")  # device="auto" means the CPU in tests (and nbval's kernels): stored outputs hold on a GPU machine


def pytest_sessionstart(session):
    # nbval runs the notebooks in the smoke profile, each reading what the one before wrote under
    # runs/smoke/. Start that folder clean, as a fresh clone (CI) does: leftovers of an earlier
    # `make smoke` (a full sweep) would let notebook 06 pass here on inputs CI never has.
    if any(str(a).endswith(".ipynb") or Path(str(a)).name == "notebooks" for a in session.config.args):
        smoke = Path(__file__).resolve().parent / "runs" / "smoke"
        for stage in sorted(smoke.glob("0[1-9]_*")):
            shutil.rmtree(stage, ignore_errors=True)


def pytest_collectstart(collector):
    # nbval: never compare these whole MIME types (plot JSON, widget views, warnings on stderr)
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "application/javascript", "stderr",
                                   "application/vnd.plotly.v1+json")


@pytest.fixture
def kill_at_first_checkpoint():
    """SIGKILL a training subprocess as soon as its checkpoint file appears; returns the step saved."""

    def kill(proc, state_path, timeout: float = 120.0) -> int:
        from hlwb import checkpoint

        deadline = time.time() + timeout
        while not state_path.exists() and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return int(checkpoint.load(state_path, kind="train-state")["step"])

    return kill


@pytest.fixture(scope="module")
def tiny_gen(tmp_path_factory):
    """A small BigGAN checkpoint of the user's own (no sidecar), shared by the explorer and hostile tests."""
    import torch

    from hlwb import generators
    from hlwb.generators.biggan import BigGANGenerator

    torch.manual_seed(0)
    g = BigGANGenerator(ch=8)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    p = tmp_path_factory.mktemp("gen") / "tiny.pt"
    generators.save(p, g)
    return str(p)

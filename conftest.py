"""Test-wide settings: headless progress bars, the smoke profile for notebooks run by nbval."""

import os

os.environ.setdefault("HLWB_HEADLESS", "1")
os.environ.setdefault("HLWB_PROGRESS", "0")
os.environ.setdefault("HLWB_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "agg")


def pytest_collectstart(collector):
    # nbval: never compare these whole MIME types (plot JSON, widget views, warnings on stderr)
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "application/javascript", "stderr",
                                   "application/vnd.plotly.v1+json")

"""Notebook 02 in a real JupyterLab, driven in Debian's Chromium by Playwright.

Starts JupyterLab on localhost, opens the explorer notebook, runs all cells, moves one
chunk's seed slider with the keyboard, drags a σ handle with the mouse and locks the finest
chunk, asserting after each that the displayed image changed (and the lock says "locked").
Screenshots go to ``$HLWB_TEST_ARTIFACTS/browser`` (default ``runs/test-artifacts/browser``).
Deselect locally with ``-m "not browser"``; CI runs it (``.ci/run`` installs chromium).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hlwb import config

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HLWB_TEST_ARTIFACTS", config.REPO_ROOT / "runs" / "test-artifacts")) / "browser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium chromium-driver"
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(config.REPO_ROOT / "notebooks" / "02_latent_explorer.ipynb", root)
    port = _free_port()
    env = {**os.environ, "HLWB_PROFILE": "smoke", "HLWB_HEADLESS": "1", "JUPYTER_CONFIG_DIR": str(root / ".cfg")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=", ("--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate")],
        env=env, stdout=subprocess.DEVNULL, stderr=open(root / "lab.log", "w"))  # noqa: SIM115 (lives with the server)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url + "/api", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (root / "lab.log").read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_slider_changes_the_image_in_jupyterlab(lab):
    from playwright.sync_api import expect, sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})  # a laptop screen
        try:
            page.goto(f"{lab}/lab/tree/02_latent_explorer.ipynb", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000)
            time.sleep(2)  # let the kernel settle before running
            page.click("text=Run", timeout=30_000)  # the Run menu
            page.click("text=Run All Cells", timeout=30_000)
            img = page.wait_for_selector("img.widget-image", timeout=180_000)
            # ipywidgets 8 shows the PNG bytes through a blob: URL, a new one per value
            page.wait_for_function("document.querySelector('img.widget-image').src.startsWith('blob:')",
                                   timeout=60_000)
            # the first screen at 1366 x 768: with the widget's top at the top, the controls (down to the
            # finest chunk's σ) and the view are visible together
            page.evaluate("document.querySelector('.widget-hbox .widget-dropdown').scrollIntoView({block: 'start'})")
            time.sleep(1)
            last_handle = page.locator(".widget-slider .noUi-handle").last.bounding_box()
            shown = img.bounding_box()
            assert last_handle["y"] + last_handle["height"] <= 768 and shown["y"] + shown["height"] <= 768, (
                last_handle, shown)
            page.screenshot(path=str(ARTIFACTS / "00_first_screen_1366x768.png"))
            img.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "01_after_run_all.png"))
            before = img.get_attribute("src")
            # sliders in order: truncation, then (seed, direction, sigma) per chunk, global -> fine
            handles = page.locator(".widget-slider .noUi-handle")
            assert handles.count() >= 1 + 3 * 4
            seed_last_chunk = handles.nth(1 + 3 * 3)
            seed_last_chunk.scroll_into_view_if_needed()
            seed_last_chunk.focus()
            for _ in range(3):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "(before) => document.querySelector('img.widget-image').src !== before", arg=before,
                timeout=60_000)
            after = page.locator("img.widget-image").get_attribute("src")
            page.screenshot(path=str(ARTIFACTS / "02_after_slider.png"))
            assert after != before
            # one mouse drag: chunk 2's σ handle, 60 px to the right
            sigma2 = handles.nth(1 + 3 * 2 + 2)
            sigma2.scroll_into_view_if_needed()
            box = sigma2.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            page.wait_for_function(
                "(before) => document.querySelector('img.widget-image').src !== before", arg=after, timeout=60_000)
            dragged = page.locator("img.widget-image").get_attribute("src")
            page.screenshot(path=str(ARTIFACTS / "03_after_drag.png"))
            # lock the finest chunk: it keeps its edit, its positives stop moving, its box says "locked"
            locks = page.locator(".widget-checkbox")
            assert locks.count() == 4
            locks.nth(3).locator("input").click()
            # the kernel's answer to the click: the box's label first, then a new image (a render of the drag
            # still in flight can change the image before the click's messages arrive: wait for the label)
            expect(locks.nth(3)).to_contain_text("locked", timeout=60_000)
            page.wait_for_function(
                "(before) => document.querySelector('img.widget-image').src !== before", arg=dragged, timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "04_after_lock.png"))
            # "Run All" a second time in the same kernel: the same parameters, no error, a fresh widget
            locked = page.locator("img.widget-image").last.get_attribute("src")
            page.click("text=Run", timeout=30_000)
            page.click("text=Run All Cells", timeout=30_000)
            page.wait_for_function("(before) => [...document.querySelectorAll('img.widget-image')]"
                                   ".some(i => i.src.startsWith('blob:') && i.src !== before)", arg=locked,
                                   timeout=180_000)
            page.wait_for_function("!document.querySelector('.jp-Notebook').innerText.includes('[*]')",
                                   timeout=180_000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert not [t for t in errors.all_inner_texts() if "Error" in t], errors.all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "05_after_second_run_all.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise
        finally:
            browser.close()

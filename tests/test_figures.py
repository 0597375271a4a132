"""Committed figures open offline in a fresh clone: every local script an HTML figure loads exists."""

import re

from hlwb import config

FIGURES = config.REPO_ROOT / "figures"


def test_every_committed_html_figure_resolves_its_scripts():
    pages = sorted(FIGURES.glob("*.html"))
    assert pages, "no HTML figures in figures/"
    for page in pages:
        for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.read_text()):
            if src.startswith(("http://", "https://", "//", "data:")):
                raise AssertionError(f"{page.name} loads {src} from the network; figures must open offline")
            assert (page.parent / src).is_file(), f"{page.name} loads {src}, which is not in {page.parent}"

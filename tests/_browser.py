"""Headless Chromium with the network blocked, for the map tests and for looking at maps.

Debian's chromium (``/usr/bin/chromium``, installed by ``tests/install_browser.sh``) driven by
playwright from PyPI; playwright's own browser download is never used. Every request that is not
``file:`` or ``data:`` is aborted and recorded, so a page that works here works with no network.

``python tests/_browser.py OUT.png MAP.html [ZOOM ...]`` writes screenshots (one per zoom).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}


def launch(playwright: Any) -> Any:
    """Debian's chromium through playwright; a clear error when either is missing."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `bash tests/install_browser.sh`")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


class OfflinePage:
    """A page opened with the network blocked; collects page errors and blocked requests."""

    def __init__(self, browser: Any, path: Path, viewport: dict[str, int] | None = None) -> None:
        self.page = browser.new_page(viewport=viewport or VIEWPORT)
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r: Any) -> None:
            if r.request.url.startswith(("file:", "data:", "about:")):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(Path(path).resolve().as_uri())

    def close(self) -> None:
        self.page.close()


def wait_for_offline_base(frame: Any, timeout_ms: int = 15_000) -> None:
    """Wait until the map has switched to (or chosen) the offline base layer."""
    frame.wait_for_function(
        "() => window.siting && siting.state && siting.state.base && "
        "siting.state.base.indexOf('offline') >= 0",
        timeout=timeout_ms,
    )


def base_only_png(frame: Any, page: Any) -> bytes:
    """Screenshot of the base layer alone: overlays, title, legend and controls hidden."""
    frame.evaluate(
        """() => {
        const st = siting.state;
        st.overlays.forEach(l => st.map.removeLayer(l));
        document.querySelectorAll('.siting-box, .leaflet-control-container, #siting-road-name')
            .forEach(e => e.style.visibility = 'hidden');
        st.map.fire('moveend');
    }"""
    )
    page.wait_for_timeout(400)
    return page.screenshot()


def pixel_stats(png: bytes) -> dict[str, float]:
    """Share of pixels that differ from the most common colour, and the number of colours."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    return {
        "not_background_share": 1.0 - counts.max() / counts.sum(),
        "colours": float(len(colours)),
        "std": float(img.std()),
    }


def _main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    out, path, zooms = Path(argv[0]), Path(argv[1]), argv[2:]
    with sync_playwright() as p:
        browser = launch(p)
        pg = OfflinePage(browser, path)
        wait_for_offline_base(pg.page)
        pg.page.wait_for_timeout(800)
        for z in zooms or [""]:
            if z:
                pg.page.evaluate(f"siting.state.map.setZoom({float(z)}, {{animate: false}}) && 0")
                pg.page.wait_for_timeout(800)
            target = out.with_name(f"{out.stem}{'_z' + z if z else ''}{out.suffix}")
            pg.page.screenshot(path=str(target))
            print(target, "errors:", pg.errors)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

"""A real browser for the page tests: Debian's chromium, driven by Playwright (which cannot
download browsers of its own here). `.ci/run` installs chromium; without it the browser
tests are skipped and say so, except in CI, where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_or_skip() -> str:
    """Debian's chromium; skipped without it, but CI must have it."""
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None and os.environ.get("CI"):
        pytest.fail("CI must install chromium (.ci/run does: apt-get install chromium)")
    if found is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium) for the page tests")
    pytest.importorskip("playwright.sync_api", reason="playwright is in the 'test' extra")
    return found


@contextmanager
def chromium() -> Iterator:  # type: ignore[type-arg]
    """A headless chromium; every page it opens fails a test on a script error."""
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def watch_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Script errors and refused loads (a CSP violation logs a console error) of `page`."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    return errors


@contextmanager
def screenshot_on_failure(page, folder: Path, name: str) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A full-page screenshot in `folder` when the block fails, named in the failure."""
    try:
        yield
    except BaseException:
        path = folder / f"failure-{name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failure: {path}")
        except Exception as error:  # the page may be gone with the failure
            print(f"no screenshot of the failure ({error})")
        raise

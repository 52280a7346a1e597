"""The project page's script in a real browser, on crafted data the real project cannot
produce on demand: a rejected version and markup in records, a push of predictions (issue
13) and a label quality report (issue 14) as this page expects their JSON. The app runs
in a thread on a real Redis; tests/test_page_browser.py runs the real `lsbert serve`."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend.settings import Settings
from backend.store import ModelStore
from backend.web import job_routes, pages
from backend.web.app import create_app
from backend.web.pages import quality as page_quality
from tests.browser import LAPTOP, chromium, screenshot_on_failure, watch_errors
from tests.test_pages import HOSTILE, crafted_versions

PROJECT = 7


def quality_report(version: str) -> dict:
    """The JSON the page's script reads from GET /projects/N/quality (docs/page.md)."""
    return {
        "project": PROJECT,
        "version": version,
        "about": "Agreement: the share of tasks where two annotators chose the same labels.",
        "annotators": [
            {"annotator": HOSTILE, "agreement": 0.91, "tasks": 40},
            {"annotator": "bob@example.com", "agreement": 0.72, "tasks": 38},
        ],
        "labels": [{"control": "sentiment", "label": "Positive", "agreement": 0.88, "tasks": 50}],
        "suspects": [
            {
                "task": 17,
                "control": "sentiment",
                "given": ["Positive"],
                "suggested": ["Negative"],
                "score": 0.93,
                "url": "http://localhost:8080/projects/7/data?task=17",
            },
            {
                "task": 18,
                "control": "sentiment",
                "given": ["Negative"],
                "suggested": ["Positive"],
                "score": 0.81,
                "url": "javascript:alert(1)",
            },
        ],
    }


def push_job(version: str) -> dict:
    """A push of predictions in GET /jobs, as this page expects it (docs/page.md)."""
    return {
        "id": "push-1",
        "kind": "push",
        "project": PROJECT,
        "status": "running",
        "reason": "v3 serves: its predictions go to Label Studio",
        "version": version,
        "enqueued_at": "2026-11-22T10:45:31.000Z",
        "started_at": "2026-11-22T10:45:31.000Z",
        "ended_at": None,
        "progress": {"stage": "push", "step": 120, "total_steps": 500, "eta_seconds": 8},
    }


@pytest.fixture
def site(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    versions = crafted_versions(ModelStore(settings.model_dir), PROJECT)
    real = job_routes.list_jobs

    def with_push(*args):  # type: ignore[no-untyped-def]
        listed = real(*args)
        return {**listed, "jobs": [push_job(versions[2]), *listed["jobs"]]}

    monkeypatch.setattr(pages, "list_jobs", with_push)
    monkeypatch.setattr(job_routes, "list_jobs", with_push)
    # a report as the page's script gets it (its making from quality.json: test_pages)
    ModelStore(settings.model_dir).write_quality(PROJECT, {"version": versions[2]})
    monkeypatch.setattr(page_quality, "summary", lambda *args: quality_report(versions[2]))
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", versions
    server.shutdown()
    thread.join(10)


def test_quality_pushes_and_a_rejected_version_render_as_text(  # type: ignore[no-untyped-def]
    site: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, versions = site
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        errors = watch_errors(page)
        alerts: list[str] = []
        page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
        with screenshot_on_failure(page, tmp_path, "crafted"):
            page.goto(f"{url}/projects/{PROJECT}")
            quality = page.locator("#quality")
            quality.wait_for(state="visible")
            annotators = quality.locator("table").nth(0).locator("tbody tr")
            assert annotators.nth(0).inner_text().split("\t") == [HOSTILE, "91 %", "40"]
            suspects = quality.locator("table").nth(2).locator("tbody tr")
            assert suspects.count() == 2
            link = suspects.nth(0).get_by_role("link", name="task 17")
            assert link.get_attribute("href") == "http://localhost:8080/projects/7/data?task=17"
            assert suspects.nth(1).get_by_role("link").count() == 0  # javascript: is no link
            push = page.locator("#pushes")
            assert push.is_visible() and "tasks sent: 120 of 500" in push.inner_text()
            assert page.locator("img").count() == 0 and alerts == []  # the markup stayed text
            rejected = page.locator(f'svg.chart g.point.rejected[data-version="{versions[3]}"]')
            assert rejected.locator("path.marker").is_visible()
            page.screenshot(path=str(tmp_path / "crafted-laptop.png"), full_page=True)
            assert errors == []


def test_the_rollback_dialog_works_from_the_keyboard_and_says_why_it_failed(  # type: ignore[no-untyped-def]
    site: tuple[str, list[str]], settings: Settings, tmp_path: Path
) -> None:
    url, versions = site
    store = ModelStore(settings.model_dir)
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        with screenshot_on_failure(page, tmp_path, "dialog"):
            page.goto(f"{url}/projects/{PROJECT}")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            button = page.get_by_role("button", name="Roll back to v2")
            button.focus()
            page.keyboard.press("Enter")
            dialog = page.get_by_role("dialog")
            assert dialog.get_by_role("heading").inner_text() == "Serve v2 instead of v3?"
            page.keyboard.press("Escape")  # cancelled: nothing changes
            assert not dialog.is_visible()
            assert store.current_version(PROJECT) == versions[2]

            shutil.rmtree(store.version_dir(PROJECT, versions[1]))  # gone since the page drew
            button.focus()
            page.keyboard.press("Enter")
            page.get_by_role("button", name="Serve v2", exact=True).click()
            alert = dialog.get_by_role("alert")
            alert.get_by_text("has no version").wait_for()
            assert "GET /versions?project=7" in alert.inner_text()  # the fix, from the API
            assert dialog.is_visible() and store.current_version(PROJECT) == versions[2]

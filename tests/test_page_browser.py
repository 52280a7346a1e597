"""The operator's page in a real browser (Debian's chromium, driven by Playwright) against a
real `lsbert serve` on the tiny BERT, in webhook mode, with basic auth on.

One project is trained twice: a quick first version, then a slow warm run (many epochs)
that the test watches from the page: its progress bar advances without a reload, and when
it ends the page shows both versions, a point for each on the chart. The rollback button
then changes the version `/setup` answers. Screenshots (laptop and phone widths, while the
job runs, after the rollback) are written to the test's folder, and on a failure too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError

from backend.tools.payloads import annotation_webhook, setup_body, start_training, task
from tests.browser import LAPTOP, PHONE, chromium, screenshot_on_failure, watch_errors
from tests.conftest import SENTIMENT_CONFIG, Serve, wait_for
from tests.texts import synthetic_reviews

USER, PASSWORD = "operator", "page-test-secret"
PROJECT = 1
# the first run is a full one: quick; the second warm-starts from it, for 2,000 steps of
# the tiny model (about 15 s here): long enough to watch its progress bar move
SLOW_WARM_RUN = {
    "TRAIN_EPOCHS": "15",
    "TRAIN_WARM_EPOCHS": "1000",
    "TRAIN_MAX_STEPS": "2000",
    "CROSS_VALIDATION_FOLDS": "0",  # no out-of-fold trainings after the watched stage
    "TRAIN_MIN_ANNOTATIONS": "100000",  # only START_TRAINING trains
    "TRAIN_EVERY_CHANGES": "100000",
}


@pytest.fixture(scope="module")
def browser() -> Iterator:  # type: ignore[type-arg]
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def serve(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    tmp_path = tmp_path_factory.mktemp("serve")
    backend = {
        **SLOW_WARM_RUN,
        "REDIS_URL": "",  # lsbert serve's embedded Redis, as a user runs it
        "EMBEDDED_REDIS_DIR": str(tmp_path / "redis"),
        "MODEL_DIR": str(tmp_path / "models"),
        "BASE_MODEL": str(tiny_model),
        "TRAIN_LEARNING_RATE": "0.003",
        "INFERENCE_RUNTIME": "torch",  # the int8 export is tested elsewhere
        "BASIC_AUTH_USER": USER,
        "BASIC_AUTH_PASS": PASSWORD,
    }
    server = Serve(backend, tmp_path / "serve.log")
    server.session.auth = (USER, PASSWORD)
    yield server
    server.stop()


def annotate(serve: Serve, rows: list[tuple[str, str]]) -> None:
    for text, label in rows:
        body = annotation_webhook(PROJECT, task(text), [label], label_config=SENTIMENT_CONFIG)
        assert serve.post("/webhook", body)["payload_stored"] is True


def train(serve: Serve) -> str:
    return serve.post("/webhook", start_training(PROJECT))["job_id"]


def job_ended(serve: Serve, job_id: str, timeout: float) -> dict:
    def ended() -> dict | None:
        job = serve.get(f"/jobs/{job_id}")
        return job if job["status"] in ("finished", "failed") else None

    job = wait_for(ended, timeout, interval=0.5, message=serve.log_tail(40))
    assert job["status"] == "finished", job
    return job


def served_version(serve: Serve) -> str:
    return serve.post("/setup", setup_body(PROJECT, SENTIMENT_CONFIG))["model_version"]


def bar_value(page) -> float:  # type: ignore[no-untyped-def]
    return float(page.locator("#jobs progress").evaluate("bar => bar.value"))


def test_the_page_follows_a_run_shows_every_version_and_rolls_back(  # type: ignore[no-untyped-def]
    browser, serve: Serve, tmp_path: Path
) -> None:
    annotate(serve, synthetic_reviews(30, seed=7))
    first = job_ended(serve, train(serve), 120)["version"]
    annotate(serve, synthetic_reviews(10, seed=8))
    slow_job = train(serve)

    context = browser.new_context(
        viewport=LAPTOP, http_credentials={"username": USER, "password": PASSWORD}
    )
    page = context.new_page()
    errors = watch_errors(page)
    with screenshot_on_failure(page, tmp_path, "laptop"):
        page.goto(f"{serve.url}/")
        page.get_by_role("link", name=f"Project {PROJECT}").click()
        page.wait_for_url(f"**/projects/{PROJECT}")
        assert page.get_by_role("heading", level=1).inner_text() == f"Project {PROJECT}"

        # the slow run, watched: its bar moves while the page stays the same document
        page.locator("#jobs progress[value]").wait_for(timeout=60_000)
        page.evaluate("window.samePage = true")
        seen = bar_value(page)
        wait_for(lambda: bar_value(page) > seen, 30, 0.25, "the progress bar did not move")
        text = page.locator("#jobs .progress-text").inner_text()
        assert re.search(r"sentiment: stage pairs, epoch \d+, step \d+ of 2000", text), text
        assert re.search(r"about \d+ (s|min) left in this stage", text), text
        assert page.evaluate("window.samePage") is True  # no reload
        page.screenshot(path=str(tmp_path / "laptop-while-training.png"), full_page=True)

        # the run ends: the page swaps its sections in, and shows both versions
        second = job_ended(serve, slow_job, 180)["version"]
        rows = page.locator("#versions table.versions > tbody > tr")
        wait_for(lambda: rows.count() == 2, 20, 0.25, "the second version did not show")
        assert page.evaluate("window.samePage") is True
        assert page.locator("#jobs .idle").inner_text() == "No training job is running."
        listing = serve.get(f"/versions?project={PROJECT}")
        assert [d["version"] for d in listing["details"]] == [second, first]
        for detail in listing["details"]:
            row = page.locator(f'#versions tr[data-version="{detail["version"]}"]')
            score = detail["controls"][0]["value"]
            assert f"{score:.3f} on " in row.locator("td[data-label='Held-out score']").inner_text()
            assert row.locator(".badge").inner_text() == detail["status"].replace("_", " ")
        points = page.locator("svg.chart g.point")
        assert points.count() == 2
        for detail in listing["details"]:
            point = page.locator(f'svg.chart g.point[data-version="{detail["version"]}"]')
            kind = "accepted" if detail["accepted"] else "rejected"
            assert kind in (point.get_attribute("class") or "")
        page.screenshot(path=str(tmp_path / "laptop-two-versions.png"), full_page=True)

        # roll back (or forward, if the second was rejected), by keyboard, confirming
        current = listing["current"]
        other = first if current == second else second
        button = page.locator(f'button[data-activate="{other}"]')
        button.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        assert dialog.is_visible()
        page.keyboard.type("the page test rolls back")
        page.keyboard.press("Enter")  # submits the form: the dialog's first button
        page.locator("#notice").get_by_text(f"{other.split('-')[0]} serves now").wait_for()
        assert served_version(serve) == other
        history = serve.get(f"/versions?project={PROJECT}")["history"]
        assert history[-1]["reason"] == "the page test rolls back"
        served = page.locator("#served")
        wait_for(
            lambda: other in served.inner_text(), 10, 0.25, "the served version did not change"
        )
        page.screenshot(path=str(tmp_path / "laptop-after-rollback.png"), full_page=True)
        assert errors == []
    context.close()

    phone = browser.new_context(
        viewport=PHONE, http_credentials={"username": USER, "password": PASSWORD}
    )
    small = phone.new_page()
    with screenshot_on_failure(small, tmp_path, "phone"):
        small.goto(f"{serve.url}/projects/{PROJECT}")
        # no sideways scrolling on a phone: the page fits its width
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        small.screenshot(path=str(tmp_path / "phone-after-rollback.png"), full_page=True)
        small.goto(f"{serve.url}/")
        small.screenshot(path=str(tmp_path / "phone-overview.png"), full_page=True)
    phone.close()


def navigation_status(page, url: str) -> int:  # type: ignore[no-untyped-def]
    """The status a browser gets; without credentials headless chromium, which cannot
    show its sign-in prompt, gives up on the navigation instead."""
    try:
        response = page.goto(url)
    except PlaywrightError as error:
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(error)
        return 401
    assert response is not None
    return response.status


def test_without_credentials_the_page_is_refused_and_label_studio_still_answered(  # type: ignore[no-untyped-def]
    browser, serve: Serve
) -> None:
    page_accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for credentials in (None, {"username": USER, "password": "wrong"}):
        context = browser.new_context(http_credentials=credentials)
        page = context.new_page()
        assert navigation_status(page, f"{serve.url}/projects/{PROJECT}") == 401
        for path in ("/", f"/projects/{PROJECT}", "/static/page.js", f"/jobs?project={PROJECT}"):
            answer = context.request.get(serve.url + path, headers=page_accept)
            assert answer.status == 401, path
            assert answer.headers["www-authenticate"] == 'Basic realm="lsbert"'  # the prompt
            assert answer.json()["error"] == "unauthorized"
        context.close()
    # Label Studio's health check, with its own headers, keeps its JSON and needs nothing
    for path in ("/", "/health"):
        answer = requests.get(serve.url + path, headers={"Accept": "*/*"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["status"] == "UP", path

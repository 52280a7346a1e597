"""The operator's pages through the Flask app on a real Redis and a model store of crafted
versions: content negotiation at `/`, auth, the page headers, escaping, the learning
curve's points, the sections that show only with their data, and refusing cross-site
posts. The browser tests are tests/test_page_browser.py and tests/test_page_scripts.py."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path

import pytest
from flask import Flask

from backend.clock import utc_now
from backend.settings import Settings
from backend.store import ModelStore
from backend.tools.payloads import setup_body
from backend.version_record import VersionRecord
from backend.web import pages
from backend.web.app import create_app
from backend.web.pages import data as page_data
from backend.web.pages.chart import learning_curves
from tests.conftest import REPO, wait_for

USER, PASSWORD = "operator", "pages-test-secret"
API_KEY = "label-studio-key-never-shown"
HOSTILE = '<img src=x onerror="alert(1)">'
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HEALTH = {"status": "UP", "model_class": "lsbert.TextClassifier"}


def authorization(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def version_record(
    examples: int,
    value: float | None,
    accepted: bool,
    reason: str = "accepted: no worse than the current version",
    labels: tuple[str, ...] = ("Positive", "Negative"),
    cross_validation: float | None = None,
) -> VersionRecord:
    if value is not None:
        held_out: dict = {
            "task_ids": list(range(1, 6)),
            "metric": "macro_f1",
            "value": value,
            "per_label": {
                label: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 3}
                for label in labels
            },
        }
    else:
        cross = {"method": "3-fold", "metric": "macro_f1", "value": cross_validation}
        held_out = {"task_ids": [], "skipped": "held out only from 20 annotated tasks on"}
        held_out["cross_validation"] = cross if cross_validation is not None else None
    return VersionRecord.from_dict(
        {
            "created_at": utc_now(),
            "annotated_tasks": examples + len(held_out["task_ids"]),
            "seconds": 3.2,
            "decision": {"accepted": accepted, "reason": reason},
            "controls": [
                {
                    "control": "sentiment",
                    "kind": "choices",
                    "labels": list(labels),
                    "examples": examples,
                    "held_out": held_out,
                    "decision": {"accepted": accepted, "reason": reason, "metric": "macro_f1"},
                    "start": {"mode": "full", "reason": "no version serves yet"},
                }
            ],
        }
    )


def publish(store: ModelStore, project: int, record: VersionRecord) -> str:
    with store.staging(project) as staged:
        return store.publish(project, staged, record, make_current=record.decision.accepted)


def crafted_versions(store: ModelStore, project: int) -> list[str]:
    """Four versions: an estimate, two accepted, one rejected whose reason holds markup."""
    return [
        publish(store, project, version_record(12, None, True, cross_validation=0.61)),
        publish(store, project, version_record(27, 0.74, True)),
        publish(store, project, version_record(45, 0.81, True, labels=("Positive", HOSTILE))),
        publish(store, project, version_record(63, 0.52, False, reason=f"rejected {HOSTILE}")),
    ]


@pytest.fixture
def auth_settings(env: dict[str, str]) -> Settings:
    return Settings.from_env(
        {
            **env,
            "BASIC_AUTH_USER": USER,
            "BASIC_AUTH_PASS": PASSWORD,
            "LABEL_STUDIO_URL": "http://127.0.0.1:1",
            "LABEL_STUDIO_API_KEY": API_KEY,
        }
    )


@pytest.fixture
def app(auth_settings: Settings) -> Flask:
    return create_app(auth_settings)


@pytest.fixture
def versions(auth_settings: Settings) -> list[str]:
    return crafted_versions(ModelStore(auth_settings.model_dir), 7)


def page(client, path: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(path, headers={**BROWSER, **authorization()})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, */*"])
@pytest.mark.parametrize("path", ["/", "/health"])
def test_label_studio_keeps_its_json_health_check_without_credentials(  # type: ignore[no-untyped-def]
    app: Flask, path: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 200
    assert response.json == {**HEALTH, "training_source": "label-studio-api"}


def test_a_browser_at_the_root_gets_the_projects_page_behind_auth(  # type: ignore[no-untyped-def]
    app: Flask, versions: list[str]
) -> None:
    client = app.test_client()
    for headers in ({}, authorization(password="wrong")):
        refused = client.get("/", headers={**BROWSER, **headers})
        assert refused.status_code == 401 and refused.json["error"] == "unauthorized"
        assert "sign in with the backend's BASIC_AUTH_USER" in refused.json["fix"]
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="lsbert"'
    for path in ("/projects/7", "/static/page.js", "/static/page.css"):
        assert client.get(path, headers=BROWSER).status_code == 401, path
    # a project connected to Label Studio but never trained is listed too
    body = setup_body(12, (REPO / "label_config" / "text_classification.xml").read_text())
    assert client.post("/setup", json=body, headers=authorization()).status_code == 200
    html = wait_for(lambda: (text := page(client, "/")) and "Project 12" in text and text, 5)
    assert 'href="/projects/7"' in html and 'href="/projects/12"' in html
    assert re.search(r">v3</span>", html)  # what serves: the newest accepted version
    assert "nothing yet (untrained)" in html
    assert client.get("/", headers={**BROWSER, **authorization()}).headers["Vary"] == "Accept"


def test_pages_load_only_their_own_files_and_say_no_secret(  # type: ignore[no-untyped-def]
    app: Flask, versions: list[str]
) -> None:
    client = app.test_client()
    for path in ("/", "/projects/7", "/projects/99"):
        response = client.get(path, headers={**BROWSER, **authorization()})
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = response.get_data(as_text=True)
        assert PASSWORD not in html and API_KEY not in html and "127.0.0.1:1" not in html
        # no inline script or style, no handler attribute, nothing from elsewhere
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/page.js" defer>']
        assert not re.search(r"<[^>]*\s(style|on[a-z]+)=", html)
        assert not re.search(r'(src|href)="(https?:)?//', html)
    script = client.get("/static/page.js", headers=authorization()).get_data(as_text=True)
    assert "innerHTML" not in script and "http://" not in script.replace("https?:\\/\\/", "")


def test_user_text_from_version_records_is_escaped(  # type: ignore[no-untyped-def]
    app: Flask, versions: list[str]
) -> None:
    html = page(app.test_client(), "/projects/7")
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_the_project_page_shows_what_serves_the_curve_and_every_version(  # type: ignore[no-untyped-def]
    app: Flask, versions: list[str]
) -> None:
    html = page(app.test_client(), "/projects/7")
    served = html[html.index('id="served"') : html.index('id="jobs"')]
    assert versions[2] in served and "0.810 on 5 held-out tasks" in served
    assert "published by a training run" in served
    next_run = "Next run: 0 annotation changes since the last run; the next starts at 1 changes ("
    assert next_run in html
    for version in versions:
        assert f'<tr data-version="{version}"' in html
    # one point per version with a score; the rejected one a cross, the estimate hollow
    points = re.findall(r'<g class="point ([a-z ]+)" data-version="([^"]+)">', html)
    assert points == [
        ("accepted estimate", versions[0]),
        ("accepted", versions[1]),
        ("accepted current", versions[2]),
        ("rejected", versions[3]),
    ]
    assert html.count('<path class="marker"') == 1
    assert "v4: macro_f1 0.520 on held-out tasks, trained on 63 annotated tasks, rejected" in html
    # a button per version that does not serve, said from where the project stands
    assert [m for m in re.findall(r'data-activate="[^"]+" data-name="[^"]+">([^<]+)<', html)] == [
        "Serve v4 instead",
        "Roll back to v2",
        "Roll back to v1",
    ]


def test_a_version_without_any_score_is_named_under_the_curve() -> None:
    details = [
        {
            "version": "v1-20261122T101500",
            "status": "current",
            "accepted": True,
            "controls": [{"control": "label", "training_annotations": 4, "value": None}],
        }
    ]
    [chart] = learning_curves(details, "v1-20261122T101500")
    assert chart.points == []
    assert chart.unplotted == ["v1: no score: nothing held out yet"]
    scored = {**details[0]["controls"][0], "training_annotations": 63, "value": 0.5}
    [chart] = learning_curves([{**details[0], "controls": [scored]}], None)
    # versions trained on as many tasks sit side by side, their names above and below
    again = {**details[0], "version": "v2-20261122T111500", "controls": [scored]}
    [chart] = learning_curves([{**details[0], "controls": [scored]}, again], None)
    first, second = chart.points
    assert second.x - first.x == 10 and first.y == second.y
    assert (first.label_y < first.y, second.label_y > second.y) == (True, True)
    [chart] = learning_curves([{**details[0], "controls": [scored]}], None)
    # the axis ends on a tick beyond the largest count: no point on the chart's edge
    assert [label for label, _ in chart.x_ticks] == ["0", "20", "40", "60", "80"]
    assert chart.points[0].x < chart.right_edge


# GET /quality's report (docs/quality.md), shortened: two versions annotators worked from
QUALITY_REPORT = {
    "version": "v3-20261122T104530",
    "agreement": {
        "controls": {
            "label": {
                "kind": "labels",
                "versions": {
                    "v1-20261122T101500": {
                        "count": 10,
                        "annotators": {"1": {"count": 10, "accepted": {"count": 8}}},
                        "labels": {"ORG": {"count": 10, "accepted": {"count": 8}}},
                    },
                    "v2-20261122T102500": {
                        "count": 20,
                        "annotators": {
                            "1": {"count": 10, "accepted": {"count": 7}},
                            "2": {"count": 10, "accepted": {"count": 5}},
                        },
                        "labels": {"ORG": {"count": 20, "accepted": {"count": 12}}},
                    },
                },
                "between_annotators": {"pairs": 5, "agreement": 0.8},
            }
        }
    },
    "suspects": [
        {"task": 54, "control": "label", "score": 0.99, "suspect": True,
         "given": [{"start": 0, "end": 5, "label": "ORG", "text": "Zorbo"}],
         "suggested": [{"start": 0, "end": 5, "label": "PER", "text": "Zorbo"}]},
        {"task": 12, "control": "label", "score": 0.04, "suspect": False,
         "given": [], "suggested": []},
    ],
}  # fmt: skip


def test_pushes_and_quality_show_only_once_their_data_exists(  # type: ignore[no-untyped-def]
    app: Flask, auth_settings: Settings, versions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    html = page(app.test_client(), "/projects/7")
    assert 'id="pushes" data-live aria-labelledby="pushes-title" hidden' in html
    assert 'data-src="/projects/7/quality" hidden' in html  # shown once it answers 200
    assert app.test_client().get("/projects/7/quality", headers=authorization()).status_code == 404
    push = {
        "id": "push-1",
        "kind": "push",
        "project": 7,
        "status": "running",
        "reason": "new version served",
        "version": versions[2],
        "started_at": "2026-11-22T10:45:31.000Z",
        "progress": {"stage": "push", "step": 120, "total_steps": 500, "eta_seconds": 8},
    }
    real = pages.list_jobs
    monkeypatch.setattr(
        pages, "list_jobs", lambda *args: {**real(*args), "jobs": [push, *real(*args)["jobs"]]}
    )
    later = create_app(auth_settings)
    html = page(later.test_client(), "/projects/7")
    pushes = html[html.index('id="pushes"') : html.index('id="quality"')]
    assert "hidden" not in pushes.split(">", 1)[0]
    assert 'data-job-id="push-1"' in pushes and 'max="500" value="120"' in pushes
    assert "sending v3's predictions" in pushes and "about 8 s left" in pushes

    ModelStore(auth_settings.model_dir).write_quality(7, QUALITY_REPORT)
    answer = later.test_client().get("/projects/7/quality", headers=authorization())
    assert answer.status_code == 200
    shown = answer.get_json()
    assert shown["annotators"] == [
        {"annotator": "1", "agreement": 0.75, "tasks": 20},
        {"annotator": "2", "agreement": 0.5, "tasks": 10},
    ]
    assert shown["labels"] == [
        {"control": "label", "label": "ORG", "agreement": 0.6667, "tasks": 30}
    ]
    assert "agree on 80% of 5 pairs" in shown["about"]
    assert shown["suspects"] == [  # suspects only, entities in words, linked to the task
        {"task": 54, "control": "label", "given": ['ORG "Zorbo"'], "suggested": ['PER "Zorbo"'],
         "score": 0.99, "url": "http://127.0.0.1:1/projects/7/data?task=54"}
    ]  # fmt: skip


def test_job_reasons_are_said_as_a_person_would() -> None:
    assert page_data.reason_words("start_training: always trains (queued before an upgrade)") == (
        "Start training (Label Studio's button, or a START_TRAINING webhook) (queued before "
        "an upgrade)"
    )
    assert page_data.reason_words(
        "annotation_created: 10 annotation changes since the last run"
    ) == ("annotation created: 10 annotation changes since the last run")
    assert page_data.reason_words("behind") == "behind"


def test_jobs_are_grouped_by_what_a_person_asks_of_them() -> None:
    jobs = [
        {"id": "d", "status": "deferred"},
        {"id": "r", "status": "running"},
        {"id": "p", "status": "finished", "kind": "push"},
        {"id": "q", "status": "queued"},
        {"id": "f", "status": "failed"},
        {"id": "o", "status": "finished", "outcome": "rejected"},
    ]
    groups = page_data.job_groups(jobs)
    assert [j["id"] for j in groups["running"]] == ["r"]
    assert [j["id"] for j in groups["waiting"]] == ["q", "d"]  # next first
    assert [page_data.job_outcome(j) for j in groups["recent"]] == ["failed", "rejected"]
    assert [j["id"] for j in groups["pushes"]] == ["p"]
    assert page_data.jobs_signature(jobs[:2]) == "d:deferred,r:running"
    assert [page_data.eta_text(s) for s in (4.4, 150, 7300)] == [
        "about 4 s left",
        "about 2 min left",
        "about 2 h 2 min left",
    ]
    going = {"step": 120, "total_steps": 400, "eta_seconds": 14}
    assert (
        page_data.pace_text(going, " in this stage", " · done")
        == " · about 14 s left in this stage"
    )
    assert page_data.pace_text({**going, "step": 400}, " in this stage", " · done") == " · done"
    assert page_data.pace_text({**going, "eta_seconds": None}) == ""


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # curl, Label Studio, scripts
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, False),
        ({"Origin": "http://localhost"}, False),  # an older browser, on this page
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, True),
        ({"Sec-Fetch-Site": "same-site"}, True),  # another port of the same host
        ({"Origin": "http://evil.example"}, True),
        ({"Origin": "null"}, True),
    ],
)
def test_a_browser_request_from_another_site_changes_nothing(  # type: ignore[no-untyped-def]
    app: Flask, versions: list[str], auth_settings: Settings, headers: dict, refused: bool
) -> None:
    client = app.test_client()
    path = f"/versions/{versions[0]}/activate?project=7"
    answer = client.post(path, headers={**authorization(), **headers}, json={})
    current = ModelStore(auth_settings.model_dir).current_version(7)
    if refused:
        assert answer.status_code == 403 and answer.json["error"] == "forbidden"
        assert current == versions[2]
        webhook = client.post("/webhook", headers=headers, json={"action": "START_TRAINING"})
        assert webhook.status_code == 403
    else:
        assert answer.status_code == 200, answer.json
        assert current == versions[0]


def test_the_package_ships_the_page_files() -> None:
    """A non-editable install (the Docker image) carries templates and static files."""
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = shipped["package-data"]["backend.web.pages"]
    web = Path(pages.__file__).parent
    files = [p.relative_to(web) for p in web.rglob("*") if p.is_file() and p.suffix != ".py"]
    files = [f for f in files if "__pycache__" not in f.parts]
    assert files and all(any(f.match(pattern) for pattern in patterns) for f in files), files

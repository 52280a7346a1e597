"""The operator's pages: `GET /` from a browser lists the projects this backend serves,
`GET /projects/<id>` shows one: what serves and why, the learning curve, the training jobs
(their progress moves without a reload), the versions with a rollback button, and the
sections that light up once their data exists (pushes of predictions, label quality).

Everything is drawn on the server from the JSON routes' own functions (version_routes,
job_routes), escaped by Jinja's autoescape, under a Content-Security-Policy that lets the
page load only its own stylesheet and script (static/): no inline script, nothing from
the internet. The script polls `/jobs` for progress, reads `/projects/<id>/quality` (the
worker's label quality report, in the section's words: pages.quality) and posts to the
activation route; basic auth covers the pages, their static files and those routes alike
(web.auth).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request

from backend.errors import NotFound
from backend.training.triggers import verdict
from backend.web.job_routes import MAX_LIMIT, list_jobs
from backend.web.pages import data as page_data
from backend.web.pages import quality as page_quality
from backend.web.pages.chart import learning_curves
from backend.web.services import services
from backend.web.version_routes import project_ids, project_versions

pages_blueprint = Blueprint(
    "pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Only this backend's own files, no inline script or style, no framing, forms post home
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # links to Label Studio carry no page address
    "Cache-Control": "no-store",
}


def wants_html() -> bool:
    """A browser asking for a page. Label Studio and curl send `*/*` or nothing, which
    keeps the JSON answer; a browser ranks text/html above everything else."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def add_page_headers(response: Response) -> Response:
    """Registered on the app: every HTML answer gets the page headers, static files
    `nosniff`."""
    if response.mimetype == "text/html":
        response.headers.update(PAGE_HEADERS)
    else:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def overview_page() -> str:
    """`GET /` from a browser (web.protocol routes it here)."""
    shared = services()
    jobs = list_jobs(shared.redis, None, MAX_LIMIT)["jobs"]
    listings = {p: project_versions(shared.store, p) for p in project_ids(shared.store)}
    projects = page_data.projects_in(listings, jobs, shared.configs.projects())
    rows = [
        page_data.project_row(p, listings.get(p), [j for j in jobs if j["project"] == p])
        for p in projects
    ]
    return render_template("overview.html", rows=rows, settings=page_settings())


@pages_blueprint.get("/projects/<int:project>")
def project_page(project: int) -> str:
    shared = services()
    listing = project_versions(shared.store, project)
    jobs = list_jobs(shared.redis, project, page_data.JOB_LIMIT)["jobs"]
    return render_template(
        "project.html",
        project=project,
        served=page_data.served_summary(listing),
        versions=page_data.version_rows(listing),
        curves=learning_curves(listing["details"], listing["current"]),
        jobs=page_data.job_groups(jobs),
        signature=page_data.jobs_signature(jobs),
        job_limit=page_data.JOB_LIMIT,
        quality_url=f"/projects/{project}/quality",
        next_run=next_run(project, listing["current"] is not None),
        status_words=page_data.STATUS_WORDS,
        metric_words=page_data.METRIC_WORDS,
        settings=page_settings(),
    )


@pages_blueprint.get("/projects/<int:project>/quality")
def project_quality(project: int) -> Response:
    """The label quality section's data; 404 before the project's first run has scored
    its labels (the section stays hidden)."""
    shared = services()
    report = shared.store.read_quality(project)
    if report is None:
        raise NotFound(
            f"project {project} has no label quality report yet",
            "it is written after each training run",
        )
    return jsonify(page_quality.summary(report, shared.settings.label_studio_url, project))


def next_run(project: int, has_version: bool) -> str:
    """When annotations start the next run, as the next webhook would be told."""
    shared = services()
    settings = shared.settings
    annotated = (
        shared.webhook_annotations.count(project)
        if settings.training_source == "webhooks" and not has_version
        else None
    )
    judged = verdict(
        shared.changes.count(project),
        annotated,
        has_version,
        settings.train_min_annotations,
        settings.train_every_changes,
    )
    return f"at the next annotation event ({judged.reason})" if judged.train else judged.reason


def page_settings() -> dict:
    """What the pages say of the backend's settings: no secret, no key, no address."""
    settings = services().settings
    return {
        "training_source": settings.training_source,
        "basic_auth": settings.basic_auth_enabled,
        "train_min_annotations": settings.train_min_annotations,
        "train_every_changes": settings.train_every_changes,
    }


@pages_blueprint.app_template_global("pace")
def pace_global(progress: dict, suffix: str = "", done: str = "") -> str:
    return page_data.pace_text(progress, suffix, done)


@pages_blueprint.app_template_filter("reason")
def reason_filter(reason: str) -> str:
    return page_data.reason_words(reason)


@pages_blueprint.app_template_filter("short")
def short_filter(version: str | None) -> str:
    return page_data.short_name(version)


@pages_blueprint.app_template_filter("outcome")
def outcome_filter(job: dict) -> str:
    return page_data.job_outcome(job)


@pages_blueprint.app_template_filter("three_places")
def three_places_filter(value: float | None) -> str:
    return page_data.three_places(value)

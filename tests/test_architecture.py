"""The import rules written in the package docstrings (backend/__init__.py), checked on the
source: every import statement of every module, at its top or inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("backend", "model")
SERVICE_STACK = ("flask", "rq", "redis", "werkzeug", "gunicorn", "backend")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")
    }


def imported_names(path: Path) -> set[str]:
    """Every module an import statement of the file names (with `from a import b`, `a.b`
    where that is a module of ours, else `a`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                names.add(child if child in modules() else node.module)
    return names


@cache
def graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each imports."""
    return {
        name: {imported for imported in imported_names(path) if imported in modules()}
        for name, path in modules().items()
    }


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def offenders(sources: Iterable[str], allowed) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        f"{source} imports {target}"
        for source in sources
        for target in imported_names(modules()[source])
        if not allowed(source, target)
    )


def members(package: str) -> list[str]:
    return [name for name in modules() if within(name, package)]


def test_model_never_imports_the_service_stack() -> None:
    found = offenders(
        members("model"), lambda _, target: not any(within(target, s) for s in SERVICE_STACK)
    )
    assert found == []


def test_training_never_imports_the_web_side() -> None:
    found = offenders(members("backend.training"), lambda _, t: not within(t, "backend.web"))
    assert found == []


def test_label_quality_and_the_web_side_never_import_each_other() -> None:
    """backend.quality runs in the worker (it loads models); the web reads its report
    through backend.store only."""
    assert offenders(members("backend.web"), lambda _, t: not within(t, "backend.quality")) == []
    assert offenders(members("backend.quality"), lambda _, t: not within(t, "backend.web")) == []
    assert "backend.quality.report" in reachable(["backend.training.run"])  # the check can fail


# training.push.queue: the web queues a push after an activation (rollback) and a task
# import; like training.queue it only enqueues, and the push runs in a worker
WEB_MAY_USE_OF_TRAINING = (
    "backend.training.queue",
    "backend.training.triggers",
    "backend.training.push.queue",
)


def test_the_web_side_reaches_training_only_to_enqueue() -> None:
    def allowed(_: str, target: str) -> bool:
        return not within(target, "backend.training") or target in WEB_MAY_USE_OF_TRAINING

    assert offenders(members("backend.web"), allowed) == []


def test_nothing_but_the_command_line_imports_the_tools() -> None:
    def allowed(source: str, target: str) -> bool:
        return not within(target, "backend.tools") or source == "backend.cli"

    outside = [m for m in modules() if not within(m, "backend.tools")]
    assert offenders(outside, allowed) == []


def test_the_shared_core_imports_no_side() -> None:
    """settings, store, records, Redis keys, the Label Studio client... import only each
    other and model/: the sides (web, training, serve, tools) build on them."""
    sides = (
        *("backend.web", "backend.training", "backend.quality"),
        *("backend.serve", "backend.tools", "backend.cli"),
    )
    core = [
        m
        for m in members("backend")
        if not any(within(m, side) for side in sides) and m != "backend"
    ]
    assert core, "no core modules found"
    found = offenders(core, lambda _, t: not any(within(t, side) for side in sides))
    assert found == []


def reachable(start: Iterable[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph().get(name, ())
    return seen


def test_the_web_side_never_reaches_the_int8_exporter() -> None:
    """Web processes open int8 files; exporting one (onnx, onnxscript, torch.onnx) is the
    worker's, and stays out of every module a web process can import."""
    assert "model.int8_export" not in reachable(members("backend.web"))
    assert "model.int8_export" in reachable(["backend.training.run"])  # the check can fail


def cycle_from(start: str) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for target in graph()[name]:
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_import_cycle_anywhere() -> None:
    cycles = [" -> ".join(c) for m in sorted(modules()) if (c := cycle_from(m))]
    assert cycles == []


@pytest.mark.parametrize(
    "package", ["backend", "backend.web", "backend.training", "backend.quality"]
)
def test_packages_say_what_happens_there(package: str) -> None:
    docstring = ast.get_docstring(ast.parse(modules()[package].read_text())) or ""
    assert len(docstring.split()) > 20, f"{package}/__init__.py needs a docstring"


def test_the_web_process_imports_no_exporter_at_run_time(tmp_path: Path) -> None:
    """Beside the static rules: building the app and loading a served classifier leaves
    the exporter, onnx and onnxscript out of the process."""
    code = (
        "import sys; from backend.web.app import create_app; "
        "from backend.settings import Settings; import model.loading; "
        f"create_app(Settings.from_env({{'REDIS_URL': 'redis://127.0.0.1:1/0', "
        f"'MODEL_DIR': '{tmp_path}'}})); "
        "print(sorted(m for m in ('model.int8_export', 'onnx', 'onnxscript') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_model_package_never_imports_the_service_stack() -> None:
    """model/ is pure ML: usable from a notebook without Flask, RQ or Redis."""
    code = (
        "import sys, model.training, model.classifier, model.base_model, model.runtime; "
        "print(sorted(m for m in ('flask', 'rq', 'redis', 'backend') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_web_side_loads_no_torch_until_it_predicts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """gunicorn forks its workers from a master that must never have run torch: building
    the app imports neither torch nor transformers (each worker warms up after the fork)."""
    code = (
        "import sys; from backend.web.app import create_app; "
        "from backend.settings import Settings; "
        f"create_app(Settings.from_env({{'REDIS_URL': 'redis://127.0.0.1:1/0', "
        f"'MODEL_DIR': '{tmp_path}'}})); "
        "import backend.cli, backend.training.jobs, backend.serve.supervisor; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr

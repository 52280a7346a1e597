"""Suspects where reviewers work: in Label Studio (API mode), each suspect task gets one
key in its data, `lsbert_suspect_rank` (1: the most suspect), and the project gets a Data
Manager tab, *Suspect labels*, that lists the tasks with that key, most suspect first.

Nothing else of a task changes: its data is read and sent back whole with the key set, or
without it once the task is no longer suspect (Label Studio's PATCH replaces the whole
`data`); no annotation is touched, so no annotation webhook fires. Putting a suspect label
right is an ordinary annotation change: it counts towards the next run, which scores the
queue again.
"""

from __future__ import annotations

from backend.labelstudio import LabelStudioClient

RANK_KEY = "lsbert_suspect_rank"
VIEW_TITLE = "Suspect labels"
COLUMN = f"tasks:data.{RANK_KEY}"


def view_settings() -> dict:
    """The tab: tasks with a rank, ordered by it as a number (1 first)."""
    return {
        "title": VIEW_TITLE,
        "filters": {
            "conjunction": "and",
            "items": [
                {"filter": f"filter:{COLUMN}", "operator": "greater", "type": "Number", "value": 0}
            ],
        },
        "ordering": [COLUMN],
        "columnsDisplayType": {COLUMN: "Number"},
    }


def suspect_ranks(suspects: list[dict]) -> dict[int, int]:
    """Task id -> its rank among the suspect tasks (a task suspect in two controls once)."""
    ranks: dict[int, int] = {}
    for entry in suspects:
        if entry["suspect"] and entry["task"] not in ranks:
            ranks[entry["task"]] = len(ranks) + 1
    return ranks


def marked_tasks(tasks: list[dict]) -> dict[int, object]:
    """Tasks whose data holds the key now (the export has every annotated task's data)."""
    return {
        int(t["id"]): t["data"][RANK_KEY]
        for t in tasks
        if isinstance(t.get("data"), dict) and RANK_KEY in t["data"]
    }


def mark(client: LabelStudioClient, task: int, data: dict, rank: int | None) -> None:
    """Set (or, with None, remove) the key, sending the task's current data back whole."""
    if rank is None:
        data.pop(RANK_KEY, None)
    else:
        data[RANK_KEY] = rank
    client.replace_task_data(task, data)


def publish_view(
    client: LabelStudioClient, project: int, suspects: list[dict], tasks: list[dict]
) -> dict:
    """Mark the suspects, unmark the tasks no longer suspect, keep the tab; what it did."""
    ranks = suspect_ranks(suspects)
    before = marked_tasks(tasks)
    changed = [t for t, rank in ranks.items() if before.get(t) != rank]
    cleared = [t for t in before if t not in ranks]
    # read just before writing; a task deleted meanwhile is left alone
    current = client.tasks_data(project, [*changed, *cleared])
    for task in changed:
        if task in current:
            mark(client, task, current[task], ranks[task])
    for task in cleared:
        if task in current:
            mark(client, task, current[task], None)
    existing = [
        v for v in client.views(project) if (v.get("data") or {}).get("title") == VIEW_TITLE
    ]
    view = client.save_view(project, view_settings(), existing[0]["id"] if existing else None)
    return {
        "view": view.get("id"),
        "key": RANK_KEY,
        "tasks": [task for task, _ in sorted(ranks.items(), key=lambda item: item[1])],
        "marked": len(changed),
        "cleared": len(cleared),
    }

"""Champion and challenger, decided in one place: which start a run takes (start.py),
which tasks both models are compared on and whether the challenger learnt from everything
the champion did (comparison.py), and whether it may serve, with why (gate.py).

Pure functions of version records, label configs and paired scores: no model, no Redis, no
files. The training run calls them, and `lsbert simulate` replays them through that run, so
a replay decides exactly as a project would. Table-driven tests: tests/test_policy.py.
"""

from backend.training.policy.comparison import (
    Comparison,
    ComparisonPlan,
    plan_comparison,
    superset_gap,
)
from backend.training.policy.gate import decide, version_decision
from backend.training.policy.start import (
    WARM_LOSSES,
    full_retrain_reason,
    label_set_change,
    plan_start,
)

__all__ = [
    "WARM_LOSSES",
    "Comparison",
    "ComparisonPlan",
    "decide",
    "full_retrain_reason",
    "label_set_change",
    "plan_comparison",
    "plan_start",
    "superset_gap",
    "version_decision",
]

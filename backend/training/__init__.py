"""The worker side: when to train, the queue, the worker, and one training run.

triggers.py decides whether annotation events start a run; queue.py keeps at most one
waiting and one running job per project on RQ; worker.py runs jobs in its own process (no
fork after torch) with a heartbeat; jobs.py is the function RQ calls. A run (run.py) reads
the project's annotations (project_data.py, examples.py), holds some out (holdout.py),
trains a challenger per control (challenger.py, fit.py, cross_validation.py) and lets
policy.py, pure functions with no model or Redis, decide whether it serves; then
backend.quality scores the labels. upgrade.py carries over jobs that an earlier release
queued. push/ stores the served version's predictions in Label Studio after every change
of it, on a queue the worker takes first.
"""

"""Pushes: the served version's predictions stored in Label Studio in bulk, after every
change of the served version, so that a project of any size holds them without anyone
pressing *Retrieve predictions*, and its *Prediction score* column and uncertainty sampling
order the work.

queue.py keeps at most one waiting and one running push per project on the `predictions`
queue (the web process imports it to enqueue after an activation or a task import; a
training run, after it publishes). job.py is the function RQ calls, under the project's push
lock; push.py is one push (read what Label Studio holds, predict the rest in batches, store
them, set the project's model version, delete old versions' predictions), over the API
calls of studio.py, with the bookkeeping of plan.py and the checks of checks.py.
recovery.py resumes a push whose worker died.
"""

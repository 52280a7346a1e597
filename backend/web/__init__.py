"""The HTTP side: what Label Studio calls (/health, /setup, /predict, /webhook), the
JSON a person or a dashboard reads (/versions with rollback, /jobs, /metrics), and the
operator's pages drawn from that JSON (pages.py: `/` from a browser, /projects/<id>).

Runs in web processes under gunicorn (server.py), built by app.create_app, the one
composition root. Every route answers in milliseconds or within a prediction: training is
only enqueued (training.queue), never run here. Served models are loaded on first use and
swapped when the store's `current` pointer moves (model_cache.py).
"""

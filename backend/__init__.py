"""Everything around the model (model/ is the pure ML): how Label Studio reaches it, how it
learns in the background, and the shared core both sides stand on.

    web/       the HTTP side, in web processes: Label Studio's protocol (/health, /setup,
               /predict, /webhook), /versions with rollback, /jobs, /metrics, the
               operator's pages, the cache of served models. It answers at once and never
               trains: it enqueues.
    training/  the worker side: triggers, the RQ queue and worker, the job, one run
               (project data, held-out split, a challenger per control, the policy that
               decides which version serves), jobs queued by earlier releases, and pushes
               (push/: the served version's predictions stored in Label Studio in bulk).
    quality/   label quality, in the worker after each run: agreement of the model and the
               annotators per version, annotator and label; the suspect-label queue
               (out-of-fold probabilities, confident learning); its report and Label
               Studio view. GET /quality serves the report.
    serve/     `lsbert serve`: an embedded Redis, the web server and a worker as children.
    tools/     `lsbert simulate` and `lsbert bench`: measuring tools, with their data
               readers, plots and the Label Studio request bodies they send.
    settings/  every setting, declared once by group.
    cli.py     the `lsbert` command: the one place that starts each side.
    the core:  errors, logs, redaction (no credentials nor paths shown), clock (time
               formats, waits, periodic threads), redis_store (every Redis key), store
               (version folders and the current pointer, with store_files: durable
               writes, owned staging folders; store_rules: what pruning keeps),
               version_record (what a version.json holds), label_config, labelstudio (the
               API client), prediction_results (what /predict answers and a push stores),
               metrics.

Import rules, checked by tests/test_architecture.py: model/ never imports backend/, Flask,
RQ or Redis; the core imports no side; training/ never imports web/; web/ reaches training/
only to enqueue (training.queue, training.triggers, training.push.queue) and never reaches
the int8 exporter; web/ and quality/ never import each other (the web reads quality.json
through store);
nothing but cli.py imports tools/; there is no import cycle.

Follow one annotation: POST /webhook (web.protocol) -> web.webhooks counts the change
(redis_store.AnnotationChanges) and asks training.triggers whether to train -> enqueue on
training.queue -> an RQ worker (training.worker) runs training.jobs.train_project ->
training.run reads the annotations (training.project_data), trains a challenger per
control (training.challenger), which training.policy accepts or rejects -> store.publish
writes the version folder and moves `current` -> quality.report scores the labels
(MODEL_DIR/<project>/quality.json, Label Studio's Suspect labels tab) -> every web
process's model cache (web.model_cache) sees the pointer move and serves the new version
at its next /predict; in API mode training.jobs queues a push (training.push.queue), which
the worker runs next (training.push.job): every task of the project gets the version's
prediction in Label Studio, and the project's model version names it.
"""

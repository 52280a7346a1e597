"""Label quality control, on the worker side, after each training run: how far to trust
each annotator, each label and the model, and which labels to look at again.

records.py reads what Label Studio recorded (each annotation's answer, the prediction it
was made from, each region's origin, the predictions of each version); agreement.py and
between.py are the figures, pure functions of those rows (model against annotators per
version, annotator and label; annotators against each other); suspects.py scores every
annotated task from out-of-fold probabilities (model.out_of_fold) under confident learning
(model.confident_learning); report.py assembles `MODEL_DIR/<project>/quality.json`, which
`GET /quality` serves, and tells the next run's gate which held-out tasks are suspect;
studio_view.py shows the suspects in Label Studio, most suspect first.

Import rules, checked by tests/test_architecture.py: the web side never imports this
package (it reads quality.json through backend.store), and this package never imports
the web side.
"""

"""Pure machine learning for the Label Studio backend, usable from a notebook.

Label spaces (labels.py), the classifier and the span tagger with their training
(classifier.py, training.py; token_classifier.py, span_training.py, spans.py,
span_decoding.py), hyper-parameters (config.py, no torch), evaluation, the base model and
its checks (base_model.py), loading a saved folder (loading.py), and int8 serving: the
runtime a web process opens (int8_runtime.py) and the exporter only a worker runs
(int8_export.py). Nothing here imports Flask, RQ, Redis or backend/.
"""

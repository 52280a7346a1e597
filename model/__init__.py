"""Pure machine learning for the Label Studio backend.

Label spaces, training, evaluation and inference for text classifiers. Nothing here
knows about HTTP, queues or Label Studio: the package can be used from a notebook.
"""

"""Named exceptions raised by the model package."""


class ModelError(Exception):
    """Base class: something about a model, its data or its weights is wrong."""


class BaseModelError(ModelError):
    """The base model cannot be found, loaded or trusted."""


class TrainingDataError(ModelError):
    """The examples given for training cannot train a model (too few, unknown labels...)."""


class StoredModelError(ModelError):
    """A saved model folder is missing files or was written by something else."""

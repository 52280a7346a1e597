"""Training one control tag's model with the settings' hyper-parameters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backend.errors import TrainingSkipped
from backend.label_config import CHOICES, Control
from backend.settings import Settings
from backend.training.examples import Examples
from backend.training.pseudo_labels import PseudoLabels
from model.config import SpanTrainingConfig, TrainingConfig


def training_config(settings: Settings) -> TrainingConfig:
    return TrainingConfig(
        epochs=settings.train_epochs,
        learning_rate=settings.train_learning_rate,
        warm_learning_rate=settings.train_warm_learning_rate,
        batch_size=settings.train_batch_size,
        finetune_epochs=settings.train_finetune_epochs,
        finetune_learning_rate=settings.train_finetune_learning_rate,
        max_length=settings.train_max_length,
        max_steps=settings.train_max_steps,
        seed=settings.train_seed,
    )


def describe_skips(examples: Examples) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in examples.skipped.most_common()) or "none"


def span_training_config(settings: Settings) -> SpanTrainingConfig:
    # max_length stays the span config's own, though it equals TRAIN_MAX_LENGTH's default:
    # TRAIN_MAX_LENGTH truncates classifier texts, whereas span texts are split into
    # overlapping windows, so passing it would change span models for anyone who sets it.
    return SpanTrainingConfig(
        epochs=settings.train_span_epochs,
        max_steps=settings.train_max_steps,
        seed=settings.train_seed,
    )


def train_control(
    base_model: str,
    control: Control,
    examples: Examples,
    settings: Settings,
    on_progress,  # type: ignore[no-untyped-def]
    start_from: Path | None = None,
    pseudo: PseudoLabels | None = None,
):  # type: ignore[no-untyped-def]
    """A classifier for `<Choices>`, a span tagger for `<Labels>`; a warm start continues
    the given saved model for fewer epochs. A classifier also learns from `pseudo`-labelled
    texts, each weighing PSEUDO_LABEL_WEIGHT."""
    from model.errors import TrainingDataError
    from model.labels import LabelSpace

    space = LabelSpace(control.labels, control.multi_label)
    texts, targets = examples.texts, examples.targets
    device = settings.device
    try:
        if control.kind == CHOICES:
            from model.training import train_classifier

            config = training_config(settings)
            if start_from is not None:
                config = replace(config, epochs=settings.train_warm_epochs)
            weights = None
            if pseudo is not None and pseudo.texts:
                weights = [1.0] * len(texts) + [settings.pseudo_label_weight] * len(pseudo.texts)
                texts, targets = [*texts, *pseudo.texts], [*targets, *pseudo.targets]
            model, report = train_classifier(
                base_model, texts, targets, space, config, on_progress, device, start_from,
                weights,
            )  # fmt: skip
            # the record's label counts are the annotations'; pseudo-labels are counted in
            # its `unlabelled` entry
            report.label_counts = {
                label: sum(label in target for target in examples.targets) for label in space.labels
            }
            return model, report
        from model.span_training import train_span_tagger

        span_config = span_training_config(settings)
        if start_from is not None:
            span_config = replace(span_config, epochs=settings.train_span_warm_epochs)
        return train_span_tagger(
            base_model, texts, targets, space, span_config, on_progress, device, start_from
        )
    except TrainingDataError as error:
        raise TrainingSkipped(
            f"control {control.name!r}: {error} (left out: {describe_skips(examples)})"
        ) from None

"""Confident learning (model.confident_learning) against hand-made cases and against
cleanlab 2.9 itself (the test extra installs it), and out-of-fold probabilities
(model.out_of_fold) that never come from a probe that saw the example's label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.confident_learning import (
    NORMALIZED_MARGIN,
    confident_thresholds,
    label_issues,
    label_quality,
    token_quality,
)
from model.labels import LabelSpace
from model.out_of_fold import fold_of, out_of_fold, with_neighbours, word_pieces


def test_a_label_the_model_confidently_contradicts_is_flagged_and_a_tie_is_not() -> None:
    labels = [0, 0, 0, 1, 1, 1, 0]
    probs = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.05, 0.95]]
    )
    # thresholds: class 0 mean over labels 0 = (0.9+0.8+0.7+0.05)/4, class 1 = 0.8
    assert confident_thresholds(np.array(labels), probs) == pytest.approx([0.6125, 0.8])
    assert label_issues(labels, probs).tolist() == [False] * 6 + [True]
    tie = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9]])
    # a tie at the argmax counts for the given label: nothing to flag
    assert label_issues([0, 1, 0, 1], tie).tolist() == [False, False, False, False]


def test_a_class_nobody_was_given_never_counts_as_confident() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.4, 0.2, 0.4]])
    assert confident_thresholds(np.array([0, 1, 0]), probs)[2] == 2.0
    assert label_issues([0, 1, 0], probs).tolist() == [False, False, False]


def test_label_quality_self_confidence_and_normalized_margin() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    assert label_quality([0, 2], probs).tolist() == pytest.approx([0.7, 0.3])
    # margin over the likeliest other class, onto 0..1: (0.7-0.2+1)/2, (0.3-0.5+1)/2
    assert label_quality([0, 2], probs, NORMALIZED_MARGIN).tolist() == pytest.approx([0.75, 0.4])


def test_a_sequence_is_as_good_as_its_worst_token() -> None:
    labels = [[0, 0, 1], [0, 1], []]
    probs = [
        np.array([[0.9, 0.1], [0.7, 0.3], [0.05, 0.95]]),
        np.array([[0.8, 0.2], [0.8, 0.2]]),
        np.zeros((0, 2)),
    ]
    found = token_quality(labels, probs)
    assert found.scores.tolist() == pytest.approx([0.7, 0.2, 1.0])  # cleanlab's own example
    assert found.worst == [1, 1, None]
    assert found.issues == [[], [1], []]


@pytest.mark.parametrize("classes", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_answers_as_cleanlab(classes: int, seed: int) -> None:
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    cleanlab_rank = pytest.importorskip("cleanlab.rank")
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, 300)
    probs = rng.dirichlet(np.ones(classes) * 0.5, 300)
    probs[np.arange(300), truth] += 1.0  # a model that is mostly right
    probs /= probs.sum(1, keepdims=True)
    given = np.where(rng.random(300) < 0.15, rng.integers(0, classes, 300), truth)
    theirs = cleanlab_filter.find_label_issues(
        given, probs, filter_by="confident_learning", n_jobs=1
    )
    assert label_issues(given, probs).tolist() == theirs.tolist()
    for method in ("self_confidence", "normalized_margin"):
        assert label_quality(given, probs, method) == pytest.approx(
            cleanlab_rank.get_label_quality_scores(given, probs, method=method)
        )


def test_token_scores_are_cleanlab_token_classification_scores() -> None:
    rank = pytest.importorskip("cleanlab.token_classification.rank")
    tokens = pytest.importorskip("cleanlab.token_classification.filter")
    rng = np.random.default_rng(3)
    labels = [list(rng.integers(0, 3, n)) for n in (4, 7, 1, 5)]
    probs = [rng.dirichlet(np.ones(3), len(row)) for row in labels]
    scores, _ = rank.get_label_quality_scores(labels, probs)
    ours = token_quality(labels, probs)
    assert ours.scores == pytest.approx(scores)
    flagged = tokens.find_label_issues(labels, probs, filter_by="confident_learning", n_jobs=1)
    assert sorted((i, j) for i, row in enumerate(ours.issues) for j in row) == sorted(flagged)


def test_out_of_fold_probabilities_never_learn_the_example_itself() -> None:
    """Each example's features are unique (one-hot of its own position): a probe that saw
    its label would know it; one that never did knows nothing of it."""
    n = 40
    features = torch.eye(n)
    targets = torch.tensor([i % 2 for i in range(n)])
    probs = out_of_fold(features, targets, LabelSpace(("a", "b")), list(range(n)), folds=5)
    own = probs[np.arange(n), targets.numpy()]
    # all a probe knows is the other folds' share of each label (its bias): no better than
    # chance at an example's own label
    assert np.abs(probs - 0.5).max() < 0.15 and own.mean() <= 0.5
    # the same probe fitted on everything is sure of every label it saw
    shared = torch.cat([torch.eye(n), targets[:, None].float()], 1)
    probs = out_of_fold(shared, targets, LabelSpace(("a", "b")), list(range(n)), folds=5)
    assert (probs[np.arange(n), targets.numpy()] > 0.8).all()


def test_folds_follow_the_task_not_its_position() -> None:
    assert fold_of([5, 6, 7, 8], 2) == [fold_of([8, 7, 6, 5], 2)[3 - i] for i in range(4)]
    assert sorted(fold_of(list(range(10)), 3)) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_words_take_all_their_pieces_and_see_their_neighbours() -> None:
    first, spans = word_pieces([None, 0, 0, 1, None], [[0, 0], [0, 3], [3, 5], [6, 8], [0, 0]])
    assert first == [1, 3] and spans == [(0, 5), (6, 8)]
    rows = with_neighbours(torch.tensor([[1.0], [2.0], [3.0]]))
    assert rows.tolist() == [[1, 0, 2], [2, 1, 3], [3, 2, 0]]

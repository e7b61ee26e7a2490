import math

import pytest
import torch
import torch.nn.functional as F

from recft.training.losses import InfoNCELoss, TripletLoss


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_infonce_matches_a_hand_computed_cross_entropy():
    q, p = unit(3, 8, seed=1), unit(3, 8, seed=2)
    loss = InfoNCELoss(temperature=0.1)(q, p)
    logits = q @ p.T / 0.1
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.arange(3)).item(), abs=1e-6)


def test_shared_positive_is_not_a_negative_for_the_other_query():
    q, p = unit(3, 8, seed=3), unit(3, 8, seed=4)
    p[2] = p[1]  # queries 1 and 2 cite the same passage (doc id 7)
    loss = InfoNCELoss(temperature=0.1)(q, p, positive_ids=[5, 7, 7])
    logits = q @ p.T / 0.1
    logits[1, 2] = logits[2, 1] = -math.inf
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.arange(3)).item(), abs=1e-6)


def test_hard_negatives_join_the_softmax_and_a_negative_equal_to_the_positive_is_masked():
    q, p, n = unit(2, 8, seed=5), unit(2, 8, seed=6), unit(2, 1, 8, seed=7)
    loss_fn = InfoNCELoss(temperature=0.05)
    with_neg = loss_fn(q, p, n, positive_ids=[0, 1], negative_ids=[[10], [11]])
    assert with_neg > loss_fn(q, p, positive_ids=[0, 1])
    masked = loss_fn(q, p, n, positive_ids=[0, 1], negative_ids=[[0], [1]])  # "negatives" are the positives
    assert masked.item() == pytest.approx(loss_fn(q, p, positive_ids=[0, 1]).item(), abs=1e-6)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0)


def test_triplet_is_zero_when_positive_beats_negative_by_the_margin():
    q = F.normalize(torch.tensor([[1.0, 0.0]]), dim=-1)
    p, n = q.clone(), F.normalize(torch.tensor([[[0.0, 1.0]]]), dim=-1)
    assert TripletLoss(margin=0.5)(q, p, n).item() == 0
    assert TripletLoss(margin=0.5)(q, n[:, 0], p[:, None]).item() == pytest.approx(1.5)

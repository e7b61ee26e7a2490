import pytest

from recft.training.batches import MixedBatchSampler


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.25, 0.5])
def test_every_batch_holds_round_alpha_b_replay_pairs(alpha):
    sampler = MixedBatchSampler(n_target=100, n_replay=1000, batch_size=32, alpha=alpha, seed=42)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert len(batch) == 32
        assert sum(i >= 100 for i in batch) == round(alpha * 32)
    seen = {i for b in batches for i in b if i < 100}
    assert seen == set(range(100))  # one epoch covers every target pair


def test_seeded_and_reshuffled_per_epoch():
    a = MixedBatchSampler(50, 50, 8, 0.25, seed=1)
    b = MixedBatchSampler(50, 50, 8, 0.25, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_bad_alpha():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        MixedBatchSampler(10, 10, 8, alpha=1.0)
    with pytest.raises(ValueError, match="needs replay pairs"):
        MixedBatchSampler(10, 0, 8, alpha=0.5)

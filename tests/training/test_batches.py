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


def test_the_duplicate_free_sampler_keeps_repeated_queries_and_positives_out_of_a_batch():
    """40 pairs over 20 queries (two positives each) and 10 documents: in plain batches of 6 some query
    or document repeats; with target_keys none does, and every pair still comes round."""
    keys = [(f"q{i // 2}", f"d{(i * 7) % 10}") for i in range(40)]

    def repeats(batch):
        queries, docs = [keys[i][0] for i in batch], [keys[i][1] for i in batch]
        return len(set(queries)) < len(queries) or len(set(docs)) < len(docs)

    plain = list(MixedBatchSampler(40, 0, 6, seed=3))
    unique = list(MixedBatchSampler(40, 0, 6, seed=3, target_keys=keys))
    assert any(repeats(b) for b in plain)
    assert not any(repeats(b) for b in unique) and all(len(b) == 6 for b in unique) and len(unique) == len(plain)
    assert len({i for b in unique for i in b}) >= 36  # deferred pairs come back in the next batch
    with pytest.raises(ValueError, match="3 target keys for 40 target pairs"):
        MixedBatchSampler(40, 0, 6, target_keys=keys[:3])


def test_with_too_few_distinct_documents_a_batch_is_filled_with_repeats_not_left_short():
    keys = [(f"q{i}", "the-only-doc") for i in range(12)]
    batches = list(MixedBatchSampler(12, 0, 4, seed=1, target_keys=keys))
    assert all(len(b) == 4 for b in batches)

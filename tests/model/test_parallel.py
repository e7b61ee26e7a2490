"""Encoding in two processes gives one process's embeddings, through the cache too."""

import numpy as np

from recft.model.cache import EmbeddingCache
from recft.model.parallel import encode_in_processes

TEXTS = [f"passage {i}: " + "word " * (i % 7) + "end" for i in range(23)]


def test_multiprocess_encode_gives_the_single_process_embeddings(tiny_encoder, tmp_path):
    one = tiny_encoder.encode(TEXTS, "passage", show_progress=False)
    two = encode_in_processes(tiny_encoder, TEXTS, "passage", processes=2)
    assert two.shape == one.shape and np.allclose(two, one, atol=1e-5)
    cache = EmbeddingCache(tmp_path / "cache", processes=2)
    cached = cache.encode(tiny_encoder, TEXTS[:10], "passage", show_progress=False)
    both = cache.encode(tiny_encoder, TEXTS, "passage", show_progress=False)  # only the 13 missing are encoded
    assert cache.stats.encoded == 23 and np.allclose(cached, one[:10], atol=1e-5) and np.allclose(both, one, atol=1e-5)

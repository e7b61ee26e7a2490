import numpy as np

from recft.common.atomic import atomic_path
from recft.model.cache import EmbeddingCache, read_shard, stored_keys, text_keys


class CountingEncoder:
    """Deterministic fake encoder that records what it was asked to encode."""

    def __init__(self, fingerprint="m1"):
        self.calls: list[list[str]] = []
        self.fp = fingerprint

    def settings(self, kind):
        return {"fingerprint": self.fp, "prompt": kind, "max_length": 8}

    def encode(self, texts, kind, show_progress=False):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def test_second_pass_is_all_hits_and_only_new_texts_are_encoded(tmp_path):
    enc, cache = CountingEncoder(), EmbeddingCache(tmp_path)
    first = cache.encode(enc, ["a", "bb", "a"], "passage")
    assert enc.calls == [["a", "bb"]]  # duplicates encoded once
    again = EmbeddingCache(tmp_path).encode(enc, ["bb", "a"], "passage")
    assert enc.calls == [["a", "bb"]]
    assert np.array_equal(again, first[[1, 0]])
    cache.encode(enc, ["a", "ccc"], "passage")
    assert enc.calls[-1] == ["ccc"]


def test_settings_change_the_key(tmp_path):
    cache, enc = EmbeddingCache(tmp_path), CountingEncoder("m1")
    cache.encode(enc, ["a"], "passage")
    cache.encode(enc, ["a"], "query")
    cache.encode(CountingEncoder("m2"), ["a"], "passage")
    assert len(list(tmp_path.iterdir())) == 3


def test_no_cache_root_always_encodes():
    enc = CountingEncoder()
    EmbeddingCache(None).encode(enc, ["a"], "passage")
    EmbeddingCache(None).encode(enc, ["a"], "passage")
    assert len(enc.calls) == 2


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "shard.npz"
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert list(tmp_path.iterdir()) == []


def test_shards_written_by_another_cache_are_picked_up(tmp_path):
    enc = CountingEncoder()
    first, second = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    first.encode(enc, ["a"], "passage")
    second.encode(enc, ["b"], "passage")  # another writer adds a shard
    first.encode(enc, ["a", "b"], "passage")
    assert enc.calls == [["a"], ["b"]]


def test_shards_are_read_memory_mapped_and_old_npz_shards_still_read(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    first = cache.encode(enc, ["a", "b"], "passage")
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    (shard,) = folder.glob("shard-*.npy")
    keys, vectors = read_shard(shard)
    assert isinstance(vectors.base, np.memmap) or isinstance(vectors, np.memmap)  # a view of the file
    assert stored_keys(folder) == {bytes(k) for k in text_keys(["a", "b"])}
    np.savez(folder / "shard-0-old.npz", keys=text_keys(["c"]), emb=np.full((1, first.shape[1]), 7, np.float32))
    again = EmbeddingCache(tmp_path).encode(enc, ["a", "c", "b"], "passage")
    assert np.array_equal(again[[0, 2]], first) and np.all(again[1] == 7) and len(enc.calls) == 1


def test_lookups_across_many_shards_return_each_texts_own_vector_in_input_order(tmp_path):
    enc, cache = CountingEncoder(), EmbeddingCache(tmp_path)
    words = [f"text {i} " + "x" * (i % 7) for i in range(60)]
    for start in range(0, 60, 15):  # four shards, written by turns
        cache.encode(enc, words[start : start + 15], "passage")
    asked = [words[i] for i in (59, 3, 3, 44, 0, 17, 59)] + ["new one", "new one", "new two"]
    got = EmbeddingCache(tmp_path).encode(enc, asked, "passage")
    assert np.array_equal(got, enc.encode(asked, "passage"))  # the fake encoder is deterministic per text
    assert enc.calls[-2] == ["new one", "new two"]  # only the unseen texts, once each, in arrival order
    assert got.dtype == np.float32 and got.flags.writeable  # the caller's own copy, not a view of a shard


def test_a_damaged_shard_is_set_aside_in_one_line_and_its_texts_encoded_again(tmp_path, capsys):
    enc = CountingEncoder()
    EmbeddingCache(tmp_path).encode(enc, ["a", "bb"], "passage")
    [shard] = tmp_path.rglob("shard-*.npy")
    with open(shard, "r+b") as handle:  # a full disk: the shard ends early
        handle.truncate(shard.stat().st_size - 7)
    again = EmbeddingCache(tmp_path).encode(enc, ["bb", "a"], "passage")
    assert enc.calls == [["a", "bb"], ["bb", "a"]] and again.shape == (2, 3)
    [warning] = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"warning: {shard}: damaged cache shard (") and "set aside" in warning
    assert not shard.exists() and shard.with_name(f"{shard.name}.damaged").is_file()
    assert len(stored_keys(shard.parent)) == 2  # the new shard; the damaged one is no shard any more


def test_a_shard_with_a_foreign_header_is_set_aside_too(tmp_path, capsys):
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "shard-1-x.npy", np.zeros((2, 3), dtype=np.float32))  # a plain array, not records
    (folder / "shard-2-y.npy").write_bytes(b"")  # a copy killed before its first byte
    assert stored_keys(folder) == set()
    assert sorted(p.name for p in folder.iterdir()) == ["shard-1-x.npy.damaged", "shard-2-y.npy.damaged"]
    assert len(capsys.readouterr().err.splitlines()) == 2

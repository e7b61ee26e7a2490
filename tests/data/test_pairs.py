from recft.data.beir import load_beir
from recft.data.pairs import pairs_from_dataset

from conftest import DATA


def test_pairs_from_scifact_train():
    pairs = pairs_from_dataset(load_beir(DATA / "scifact", split="train"))
    assert len(pairs) == 919 and len({p.query_id for p in pairs}) == 809
    assert {p.source for p in pairs} == {"scifact"}  # labelled with their source: ids are unique only within one

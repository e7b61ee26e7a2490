"""A ``domain`` on queries and pairs: read from BEIR queries and every pair format, and cut to one domain."""

import json

import pytest

from recft.data.arrivals import CorpusIndex, read_arrival
from recft.data.beir import DataError, load_beir
from recft.data.domain_labels import check_domain, restrict_to_domain
from recft.data.pairs import pairs_from_dataset

from conftest import TINY_CORPUS, TINY_QRELS, TINY_QUERIES, write_beir

DOMAINS = {"q1": "bio", "q2": "aero", "q3": "bio", "q4": "pay"}


def labelled_beir(folder, domains=DOMAINS):
    write_beir(folder, TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    records = [
        {"_id": q, "text": t, **({"domain": domains[q]} if q in domains else {})} for q, t in TINY_QUERIES.items()
    ]
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_query_domains_are_read_and_a_dataset_is_cut_to_one_domain(tmp_path):
    dataset = load_beir(labelled_beir(tmp_path / "tiny"))
    assert dataset.query_domains == DOMAINS
    bio = restrict_to_domain(dataset, "bio")
    assert set(bio.queries) == set(bio.qrels) == {"q1", "q3"} and bio.corpus == dataset.corpus
    assert {(p.query_id, p.domain) for p in pairs_from_dataset(bio)} == {("q1", "bio"), ("q3", "bio")}
    with pytest.raises(DataError, match=r"queries.jsonl: no test query of domain 'chem' \(domains: aero, bio, pay\)"):
        restrict_to_domain(dataset, "chem")


def test_an_unlabelled_set_belongs_wholly_to_whichever_domain_reads_it(tiny_beir):
    dataset = load_beir(tiny_beir)
    assert dataset.query_domains == {} and restrict_to_domain(dataset, "bio") is dataset
    assert {p.domain for p in pairs_from_dataset(dataset)} == {""}


def test_a_domain_that_is_not_a_string_names_the_file_and_line(tmp_path):
    folder = labelled_beir(tmp_path / "tiny")
    lines = (folder / "queries.jsonl").read_text().splitlines()
    lines[2] = json.dumps({"_id": "q3", "text": "stem cells", "domain": 7})
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"queries.jsonl:3: field 'domain' must be a string, got int"):
        load_beir(folder)


def test_a_domain_name_must_be_safe_as_a_folder():
    assert check_domain("scifact-v2") == "scifact-v2"
    for bad in ("../x", "", "a/b", ".hidden"):
        with pytest.raises(DataError, match="domain"):
            check_domain(bad)


def test_a_pair_file_read_for_one_domain_keeps_its_rows_and_unlabelled_ones(tmp_path):
    corpus = CorpusIndex({"d1": "A flea lives a year.", "d2": "A wing in a slipstream."})
    rows = [
        {"anchor": "flea lifespan", "positive": "A flea lives a year.", "domain": "bio"},
        {"anchor": "wing lift", "positive": "A wing in a slipstream.", "domain": "aero"},
        {"anchor": "how long do fleas live", "positive": "A flea lives a year."},
        {"anchor": "flea hosts", "positive": "A flea lives a year.", "area": "bio"},
    ]
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bio = read_arrival(path, corpus, "tiny", domain="bio")
    assert [(p.query, p.domain) for p in bio.pairs] == [
        ("flea lifespan", "bio"),
        ("how long do fleas live", "bio"),
        ("flea hosts", "bio"),
    ]
    assert bio.dropped == {"other_domain": 1} and bio.problems == []
    renamed = read_arrival(path, corpus, "tiny", columns={"domain": "area"}, domain="aero")
    # the labels now come from "area" only: rows without one are unlabelled, the "bio" one is left out
    assert [p.query for p in renamed.pairs] == ["flea lifespan", "wing lift", "how long do fleas live"]
    everything = read_arrival(path, corpus, "tiny")  # no domain asked for: every row, labels kept
    assert [p.domain for p in everything.pairs] == ["bio", "aero", "", ""]

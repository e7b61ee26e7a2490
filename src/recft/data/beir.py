"""Load a BEIR-layout retrieval set, refusing bad input with one line that names the file and line.

Everything downstream (training, the promotion gate) trusts these ids, so we validate eagerly and
fail loudly: a qrels row that names an unknown document would otherwise silently count as a miss
and bias every metric downwards.

Layout (plain or ``.gz``)::

    <folder>/corpus.jsonl        {"_id", "title", "text"}
    <folder>/queries.jsonl       {"_id", "text"}
    <folder>/qrels/<split>.tsv   query-id <TAB> corpus-id <TAB> score   (header optional)
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from recft.common.errors import RecftError


class DataError(RecftError, ValueError):
    """Bad input data; the message names the file (and line) and what is wrong."""


@dataclass(frozen=True)
class Dataset:
    """One split of a retrieval set.

    ``corpus`` maps doc id → the text that gets embedded (``title + " " + text``, as BEIR/MTEB do);
    ``queries`` holds only the split's queries that have at least one relevant document;
    ``qrels`` maps query id → {doc id: graded relevance}.
    """

    name: str
    path: Path
    split: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    titles: dict[str, str] = field(default_factory=dict, repr=False)
    query_domains: dict[str, str] = field(default_factory=dict, repr=False)  # qid → "domain" (recft.data.domain_labels)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, split={self.split!r}, docs={len(self.corpus)}, "
            f"queries={len(self.queries)}, qrels={sum(map(len, self.qrels.values()))})"
        )


def find_file(folder: Path, stem: str) -> Path:
    """Return ``folder/stem`` or ``folder/stem.gz``; raise DataError naming what is missing."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder / stem}: file not found (nor {stem}.gz)")


def open_text(path: Path):
    """Open a plain or gzip-compressed UTF-8 text file."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def text_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, None) per line of a plain or gzip-compressed UTF-8 file — (…, "", why) for a
    line that is not UTF-8. A file that cannot be read on (a .gz cut short by a killed copy) is a
    DataError naming the line where it stops."""
    lineno = 0
    try:
        with open(path, "rb") if path.suffix != ".gz" else gzip.open(path, "rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                try:
                    text, problem = raw.decode("utf-8"), None
                except UnicodeDecodeError as err:
                    text, problem = "", f"not UTF-8 text ({err.reason} at byte {err.start})"
                yield lineno, text, problem
    except (OSError, EOFError) as err:
        raise DataError(f"{path}:{lineno + 1}: cannot be read ({err})") from None


def jsonl_records(path: Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object comes as the
    message saying why, so a caller may stop (``read_jsonl``) or report it and go on (pair files)."""
    for lineno, line, problem in text_lines(path):
        if problem:
            yield lineno, problem
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield lineno, f"malformed JSON ({err.msg})"
            continue
        yield lineno, record if isinstance(record, dict) else f"expected a JSON object, got {type(record).__name__}"


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; malformed JSON is a DataError."""
    for lineno, record in jsonl_records(path):
        if isinstance(record, str):
            raise DataError(f"{path}:{lineno}: {record}")
        yield lineno, record


DOMAIN_FIELD = "domain"  # a query's product or collection (recft.data.domain_labels)


def _string_field(record: dict, key: str, path: Path, lineno: int, required: bool = True) -> str:
    value = record.get(key, None if required else "")
    if value is None:
        raise DataError(f"{path}:{lineno}: missing field {key!r}")
    if not isinstance(value, (str, int)):
        raise DataError(f"{path}:{lineno}: field {key!r} must be a string, got {type(value).__name__}")
    return str(value)


def record_domain(record: Mapping, columns: Mapping[str, str] | None = None) -> str | None:
    """The domain a pair-file row or queries.jsonl record names (``columns`` may rename the field)."""
    value = record.get((columns or {}).get(DOMAIN_FIELD, DOMAIN_FIELD))
    if value is None and isinstance(record.get("metadata"), Mapping):
        value = record["metadata"].get(DOMAIN_FIELD)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {DOMAIN_FIELD!r} must be a string, got {type(value).__name__}")
    return value


def read_id_text(path: Path, with_title: bool, domains: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Read a corpus or queries file into {id: text} (and {id: title}); duplicate ids are refused.
    With ``domains``, each record's optional ``domain`` field is collected into it."""
    texts: dict[str, str] = {}
    titles: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, record in read_jsonl(path):
        item_id = _string_field(record, "_id", path, lineno)
        if item_id in first_line:
            raise DataError(f"{path}:{lineno}: duplicate id {item_id!r} (first on line {first_line[item_id]})")
        first_line[item_id] = lineno
        text = _string_field(record, "text", path, lineno)
        if with_title:
            title = _string_field(record, "title", path, lineno, required=False)
            titles[item_id] = title
            text = f"{title} {text}".strip()
        texts[item_id] = text
        if domains is not None:
            try:
                domain = record_domain(record)
            except ValueError as err:
                raise DataError(f"{path}:{lineno}: {err}") from None
            if domain is not None:
                domains[item_id] = domain
    return texts, titles


def read_qrels(path: Path) -> list[tuple[int, str, str, int]]:
    """Read BEIR qrels rows as (line, query id, doc id, score); a header line is optional."""
    rows: list[tuple[int, str, str, int]] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, line, problem in text_lines(path):
        if problem:
            raise DataError(f"{path}:{lineno}: {problem}")
        if not line.strip():
            continue
        parts = line.rstrip("\n").rstrip("\r").split("\t")
        if lineno == 1 and parts[0] in ("query-id", "query_id", "qid"):
            continue
        if len(parts) != 3:
            raise DataError(f"{path}:{lineno}: expected 3 tab-separated columns, got {len(parts)}")
        qid, docid, score_text = parts
        try:
            score = int(float(score_text))
        except ValueError:
            raise DataError(f"{path}:{lineno}: score {score_text!r} is not a number") from None
        if (qid, docid) in seen:
            raise DataError(
                f"{path}:{lineno}: duplicate judgement for ({qid!r}, {docid!r}) (first on line {seen[qid, docid]})"
            )
        seen[qid, docid] = lineno
        rows.append((lineno, qid, docid, score))
    return rows


def available_splits(folder: Path) -> list[str]:
    qrels_dir = folder / "qrels"
    if not qrels_dir.is_dir():
        return []
    return sorted({p.name.split(".")[0] for p in qrels_dir.iterdir() if ".tsv" in p.name})


def load_beir(path: str | Path, split: str = "test", name: str | None = None) -> Dataset:
    """Load and validate one split of a BEIR folder.

    >>> ds = load_beir("data/scifact", split="test")     # doctest: +SKIP
    >>> len(ds.queries), len(ds.corpus)                   # doctest: +SKIP
    (300, 5183)
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    try:
        qrels_path = find_file(folder / "qrels", f"{split}.tsv")
    except DataError:
        splits = ", ".join(available_splits(folder)) or "none"
        missing = folder / "qrels" / f"{split}.tsv"
        raise DataError(f"{missing}: split {split!r} not found (available: {splits})") from None

    corpus_path = find_file(folder, "corpus.jsonl")
    corpus, titles = read_id_text(corpus_path, with_title=True)
    if not corpus:
        raise DataError(f"{corpus_path}: corpus is empty")
    queries_path = find_file(folder, "queries.jsonl")
    domains: dict[str, str] = {}
    all_queries, _ = read_id_text(queries_path, with_title=False, domains=domains)

    qrels: dict[str, dict[str, int]] = {}
    for lineno, qid, docid, score in read_qrels(qrels_path):
        if qid not in all_queries:
            raise DataError(f"{qrels_path}:{lineno}: query id {qid!r} is not in {queries_path.name}")
        if docid not in corpus:
            raise DataError(f"{qrels_path}:{lineno}: corpus id {docid!r} is not in {corpus_path.name}")
        qrels.setdefault(qid, {})[docid] = score
    # A query with no relevant document has no defined nDCG/MRR; BEIR and trec_eval leave it out too.
    qrels = {qid: docs for qid, docs in qrels.items() if any(s > 0 for s in docs.values())}
    if not qrels:
        raise DataError(f"{qrels_path}: no query has a relevant (score > 0) document")
    queries = {qid: all_queries[qid] for qid in qrels}
    return Dataset(
        name=name or folder.name,
        path=folder,
        split=split,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        titles=titles,
        query_domains={qid: domains[qid] for qid in queries if qid in domains},
    )


def subsample_corpus(dataset: Dataset, max_docs: int, rng: np.random.Generator) -> Dataset:
    """Keep every judged document plus a seeded random sample of the rest, up to ``max_docs``.

    For per-epoch probes on a CPU: re-encoding 28k MS MARCO passages every epoch costs minutes,
    while judged documents + distractors still rank the same model family consistently. The
    numbers are then *not* comparable with full-corpus ones; reports record ``docs``.
    """
    judged = {doc for docs in dataset.qrels.values() for doc in docs}
    if len(dataset.corpus) <= max_docs:
        return dataset
    others = [doc for doc in dataset.corpus if doc not in judged]
    room = max(0, max_docs - len(judged))
    chosen = set(rng.choice(len(others), size=min(room, len(others)), replace=False))
    keep = judged | {others[i] for i in chosen}
    corpus = {doc: text for doc, text in dataset.corpus.items() if doc in keep}
    titles = {doc: t for doc, t in dataset.titles.items() if doc in keep}
    return dataclasses.replace(dataset, corpus=corpus, titles=titles)

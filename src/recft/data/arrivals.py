"""A team's own (query, passage) pairs, as the neighbouring tools write them, turned into training pairs.

Formats (``arrivals.format``, detected from the file when ``auto``):

- ``sentence_transformers``: jsonl, csv, tsv or parquet rows with ``anchor`` (or ``query``),
  ``positive``, optional ``negative`` or ``negative_1``, ``negative_2``, …; ``arrivals.columns`` maps
  other column names onto these (``{anchor: question, positive: answer}``);
- ``flag_embedding``: jsonl ``{"query": …, "pos": [...], "neg": [...]}`` (one pair per positive);
- ``tevatron``: jsonl ``{"query_id", "query", "positive_passages": [{"docid", "title", "text"}],
  "negative_passages": [...]}``.

A passage is given by id (Tevatron's ``docid``, when the corpus has it) or as text. Text equal to a
corpus document — its ``title + " " + text``, or its text alone — becomes that document's id; other
text gets a stable id from its content (``new:<hash>``) and is reported as a new document. Every bad
row is a ``file:line: what`` problem, never an exception half-way through a file; duplicate pairs are
dropped and counted. Any format may carry a ``domain`` column (``recft.data.domain_labels``): a cycle run
with ``domain=X`` takes the rows labelled X or unlabelled and leaves the others to their domains.

A corpus delta — ``corpus.jsonl`` (or ``<name>.corpus.jsonl``) in BEIR corpus layout (``_id``,
``title``, ``text``) — brings documents that join the corpus of record; an id names one document for
good, so an id already in the corpus with other text is a problem, with the same text a no-op.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from recft.data.beir import DOMAIN_FIELD, DataError, jsonl_records, open_text, record_domain
from recft.data.pairs import Pair

SUFFIXES = (".jsonl", ".csv", ".tsv", ".parquet")
ST_FIELDS = ("anchor", "positive", "negative")


@dataclass(frozen=True)
class Passage:
    text: str
    doc_id: str | None = None  # an id the file gave (Tevatron)
    title: str = ""


@dataclass(frozen=True)
class Row:
    line: int
    query_id: str | None
    query: str
    positive: Passage
    negatives: tuple[Passage, ...] = ()
    domain: str = ""


@dataclass
class Arrival:
    """What one file brought: its pairs, hard negatives, new documents, and what was dropped and why."""

    path: Path
    format: str
    rows_read: int = 0
    pairs: list[Pair] = field(default_factory=list)
    negatives: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    new_documents: dict[str, str] = field(default_factory=dict)  # id (new:<hash> for text) → text to embed
    titles: dict[str, str] = field(default_factory=dict)  # a corpus delta's titles, for matching text later
    lines: dict[str, int] = field(default_factory=dict)  # query id → the line it first arrived on (sealing's origin)
    dropped: Counter = field(default_factory=Counter)  # reason → rows
    problems: list[str] = field(default_factory=list)  # "file:line: what"

    def manifest(self) -> dict:
        return {
            "file": self.path.name,
            "format": self.format,
            "rows_read": self.rows_read,
            "kept": len(self.pairs),
            "dropped": dict(self.dropped),
            "new_documents": len(self.new_documents),
        }


def content_id(prefix: str, text: str) -> str:
    return f"{prefix}:{hashlib.blake2b(normalize(text).encode(), digest_size=8).hexdigest()}"


def normalize(text: str) -> str:
    """Case- and space-insensitive form of a text, for matching queries and passages."""
    return re.sub(r"\s+", " ", text).strip().lower()


def records(path: Path) -> Iterator[tuple[int, dict | str]]:
    """(line, record) for every row; a row that cannot be parsed is yielded as its error message."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for number, record in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, record
        return
    if path.suffix in (".csv", ".tsv"):
        with open_text(path) as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            for record in reader:
                yield reader.line_num, record
        return
    yield from jsonl_records(path)


def detect(path: Path, first: Mapping) -> str:
    if "positive_passages" in first:
        return "tevatron"
    if "pos" in first:
        return "flag_embedding"
    if path.suffix in SUFFIXES:
        return "sentence_transformers"
    raise DataError(f"{path}: cannot tell the pair format (set arrivals.format to one of {', '.join(FORMATS)})")


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"empty {what}")
    return value


def _st_rows(number: int, record: Mapping, columns: Mapping[str, str]) -> list[Row]:
    def get(name):
        return record.get(columns.get(name, name))

    query = get("anchor") if get("anchor") is not None else get("query")
    negatives = [get("negative")] if get("negative") is not None else []
    negatives += [record[k] for k in sorted(record, key=_suffix) if re.fullmatch(r"negative_\d+", k) and record[k]]
    passage = Passage(_text(get("positive"), "positive"))
    return [Row(number, None, _text(query, "query"), passage, tuple(Passage(_text(n, "negative")) for n in negatives))]


def _suffix(key: str) -> int:
    match = re.search(r"_(\d+)$", key)
    return int(match.group(1)) if match else 0


def _flag_rows(number: int, record: Mapping, columns: Mapping[str, str]) -> list[Row]:
    query = _text(record.get("query"), "query")
    positives = record.get("pos") or []
    if not isinstance(positives, list) or not positives:
        raise ValueError("no positive passage ('pos' is empty)")
    negatives = tuple(Passage(_text(n, "negative")) for n in record.get("neg") or [])
    return [Row(number, None, query, Passage(_text(p, "positive")), negatives) for p in positives]


def _tevatron_passage(item, what: str) -> Passage:
    if not isinstance(item, Mapping):
        raise ValueError(f"a {what} passage must be an object with docid, title, text")
    doc_id = item.get("docid")
    text = item.get("text") or ""
    if not doc_id and not text.strip():
        raise ValueError(f"empty {what} passage (no docid, no text)")
    return Passage(text, str(doc_id) if doc_id else None, item.get("title") or "")


def _tevatron_rows(number: int, record: Mapping, columns: Mapping[str, str]) -> list[Row]:
    query = _text(record.get("query"), "query")
    positives = record.get("positive_passages") or []
    if not positives:
        raise ValueError("no positive passage ('positive_passages' is empty)")
    negatives = tuple(_tevatron_passage(n, "negative") for n in record.get("negative_passages") or [])
    query_id = str(record["query_id"]) if record.get("query_id") not in (None, "") else None
    return [Row(number, query_id, query, _tevatron_passage(p, "positive"), negatives) for p in positives]


ROW_READERS = {"sentence_transformers": _st_rows, "flag_embedding": _flag_rows, "tevatron": _tevatron_rows}
FORMATS = tuple(ROW_READERS)  # arrivals.format / pairs.format: a new format is a reader here, and a case in detect


class CorpusIndex:
    """Find a corpus document by id, by ``title + " " + text`` or by its text alone (normalised)."""

    def __init__(self, corpus: Mapping[str, str], titles: Mapping[str, str] | None = None):
        self.corpus: dict[str, str] = {}
        self.by_text: dict[str, str] = {}
        for doc_id, full in corpus.items():
            self.add(doc_id, full, (titles or {}).get(doc_id, ""))

    def add(self, doc_id: str, full: str, title: str = "") -> None:
        """A document joining the corpus (``full`` is what gets embedded: ``title + " " + text``)."""
        self.corpus[doc_id] = full
        self.by_text.setdefault(normalize(full), doc_id)
        if title and full.startswith(title):
            self.by_text.setdefault(normalize(full[len(title) :]), doc_id)

    def resolve(self, passage: Passage) -> tuple[str, str, bool]:
        """(doc id, the text to embed, new?) — an unknown id with no text raises ValueError."""
        if passage.doc_id is not None and passage.doc_id in self.corpus:
            return passage.doc_id, self.corpus[passage.doc_id], False
        full = f"{passage.title} {passage.text}".strip() if passage.title else passage.text
        for candidate in (full, passage.text):
            found = self.by_text.get(normalize(candidate)) if candidate else None
            if found is not None:
                return found, self.corpus[found], False
        if not passage.text.strip():
            raise ValueError(f"unknown passage id {passage.doc_id!r} and no text")
        return content_id("new", full), full, True


def read_arrival(
    path: str | Path,
    corpus: CorpusIndex,
    source: str,
    fmt: str = "auto",
    columns: Mapping[str, str] | None = None,
    domain: str | None = None,
) -> Arrival:
    """Read one pair file into pairs of ``source`` (the corpus they index into); collect every problem.
    With ``domain``, rows labelled with another domain are left out (``dropped["other_domain"]``: not a
    problem, they are another domain's) and unlabelled rows are taken as ``domain``'s."""
    path = Path(path)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - {*ST_FIELDS, "query", DOMAIN_FIELD})
    if unknown:
        raise DataError(
            f"{path}: arrivals.columns maps unknown field(s) {', '.join(unknown)} "
            "(fields: anchor, positive, negative, domain)"
        )
    rows = list(records(path))
    first = next((r for _, r in rows if isinstance(r, dict)), None)
    if first is None:
        raise DataError(f"{path}: no readable row")
    fmt = detect(path, first) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(f"{path}: arrivals.format must be auto or one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "sentence_transformers":
        absent = [columns.get(f, f) for f in ("positive",) if columns.get(f, f) not in first]
        if columns.get("anchor", "anchor") not in first and "query" not in first:
            absent.insert(0, columns.get("anchor", "anchor"))
        if absent:
            raise DataError(f"{path}:1: no column {', '.join(map(repr, absent))} (columns: {', '.join(first)})")
    arrival = Arrival(path, fmt)
    seen: set[tuple[str, str]] = set()
    for number, record in rows:
        arrival.rows_read += 1
        try:
            if isinstance(record, str):
                raise ValueError(record)
            labelled = record_domain(record, columns)
            if domain is not None and labelled not in (None, domain):
                arrival.dropped["other_domain"] += 1
                continue
            for row in ROW_READERS[fmt](number, record, columns):
                row = dataclasses.replace(row, domain=labelled or domain or "")
                _keep(arrival, row, corpus, source, seen)
        except ValueError as err:
            arrival.problems.append(f"{path}:{number}: {err}")
            arrival.dropped[_reason(str(err))] += 1
    return arrival


def _reason(message: str) -> str:
    reasons = ("malformed JSON", "empty", "unknown passage id", "no positive", "expected a JSON object")
    for reason in (*reasons, "already in the corpus with other text"):
        if message.startswith(reason) or reason in message:
            return reason.replace(" ", "_").lower()
    return "bad_row"


def _keep(arrival: Arrival, row: Row, corpus: CorpusIndex, source: str, seen: set) -> None:
    """Resolve every passage of the row first, so a bad negative drops the whole row, not half of it."""
    doc_id, text, new = corpus.resolve(row.positive)
    negatives = [corpus.resolve(n) for n in row.negatives]
    if (normalize(row.query), doc_id) in seen:
        arrival.dropped["duplicate"] += 1
        return
    seen.add((normalize(row.query), doc_id))
    query_id = row.query_id or content_id("q", row.query)
    arrival.lines.setdefault(query_id, row.line)
    arrival.pairs.append(Pair(query_id, row.query, doc_id, text, source, row.domain))
    for passage_id, passage_text, is_new in [(doc_id, text, new), *negatives]:
        if is_new:
            arrival.new_documents[passage_id] = passage_text
    given = [(n_id, n_text) for n_id, n_text, _ in negatives if n_id != doc_id]
    if given:  # a FlagEmbedding row repeats its negatives for each positive: keep each once
        known = arrival.negatives.setdefault((source, query_id), [])
        known.extend(n for n in dict.fromkeys(given) if n not in known)


def is_corpus_delta(path: Path) -> bool:
    return path.name == "corpus.jsonl" or path.name.endswith(".corpus.jsonl")


def read_corpus_delta(path: str | Path, corpus: CorpusIndex) -> Arrival:
    """Documents a corpus delta adds (``new_documents``: id → ``title + " " + text``); each bad row,
    and each id the corpus already holds with other text, is a ``file:line`` problem."""
    path = Path(path)
    arrival = Arrival(path, "corpus")
    for number, record in jsonl_records(path):
        arrival.rows_read += 1
        try:
            if isinstance(record, str):
                raise ValueError(record)
            doc_id, text = record.get("_id"), record.get("text")
            if not isinstance(doc_id, (str, int)) or str(doc_id).strip() == "":
                raise ValueError("empty _id")
            title = record.get("title") or ""
            full = f"{title} {_text(text, 'text')}".strip()
            doc_id = str(doc_id)
            known = corpus.corpus.get(doc_id, arrival.new_documents.get(doc_id))
            if known is not None and normalize(known) != normalize(full):
                raise ValueError(f"document id {doc_id!r} is already in the corpus with other text")
        except ValueError as err:
            arrival.problems.append(f"{path}:{number}: {err}")
            arrival.dropped[_reason(str(err))] += 1
            continue
        if known is not None:
            arrival.dropped["already_in_corpus"] += 1
            continue
        arrival.new_documents[doc_id] = full
        arrival.titles[doc_id] = title
    return arrival

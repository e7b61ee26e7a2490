"""Domains: which product (or collection) a query or pair belongs to, so each has its own adapter.

A team with several products labels each query (``"domain"`` in a BEIR ``queries.jsonl`` record)
and each arriving pair (a ``domain`` column in any pair format; both read by
``recft.data.beir.record_domain``). A cycle run with ``domain=X`` trains, evaluates and gates only
X: it keeps X's queries of a labelled golden set, X's pairs, and an arriving file's rows labelled X
or not labelled at all (a file without the column is the domain's own). A set or file with no
labels at all belongs wholly to whichever domain reads it — one golden set per domain
(``data=cranfield domain=cranfield``) is the common case.
"""

from __future__ import annotations

import dataclasses
import re

from recft.data.beir import DataError, Dataset

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_domain(name: str) -> str:
    """A domain name that is safe as a folder name (registries live under ``domains/<name>``)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DataError(f"domain {name!r}: use letters, digits, '_', '.', '-' (at most 64, not starting with a symbol)")
    return name


def restrict_to_domain(dataset: Dataset, domain: str) -> Dataset:
    """The dataset's queries of ``domain`` (all of them when no query is labelled)."""
    if not dataset.query_domains:
        return dataset
    keep = {qid for qid in dataset.queries if dataset.query_domains.get(qid) == domain}
    if not keep:
        found = ", ".join(sorted(set(dataset.query_domains.values())))
        where = f"{dataset.path}/queries.jsonl"
        raise DataError(f"{where}: no {dataset.split} query of domain {domain!r} (domains: {found})")
    return dataclasses.replace(
        dataset,
        queries={q: t for q, t in dataset.queries.items() if q in keep},
        qrels={q: docs for q, docs in dataset.qrels.items() if q in keep},
    )

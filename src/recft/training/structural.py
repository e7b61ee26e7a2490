"""Structural hard negatives: the positive passage with one sentence changed in meaning, not in words.

A bi-encoder that scores "X does not cause Y" like "X causes Y" cannot answer a negated query
(NevIR). Training against such near-copies is meant to teach that difference — and, per Ralev et al.
(arXiv 2604.16351), can cost general retrieval. These edits make the experiment possible:

- ``negation``: remove a negation where there is one ("does not reduce" → "reduces", "is not" →
  "is"), otherwise insert one after the first auxiliary or before the main verb ("reduced" →
  "did not reduce");
- ``role_swap``: swap the subject and the object around the main verb phrase ("A inhibits B" →
  "B inhibits A", "A is associated with B" → "B is associated with A");
- ``antonym``: flip one directional word ("increases" → "decreases", "higher" → "lower").

Verbs are found and re-inflected with lemminflect's lexicon (it knows "reduced" is the past of
"reduce" and that its present third person is "reduces"); no parser model can be installed offline,
so the verb finder is a lexicon lookup with a few rules, not a dependency parse. Each edit is a
function ``str -> str | None`` in ``EDITS``: add one there to add an edit type.
Every edit is deterministic, and a passage is edited in its first sentence where the edit applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from lemminflect import getAllLemmas, getInflection

from recft.common.errors import ConfigError
from recft.data.pairs import Pair

AUXILIARIES = {
    "is", "are", "was", "were", "can", "could", "may", "might", "will", "would", "should", "must",
    "has", "have", "had", "does", "do", "did",
}  # fmt: skip
NEGATIONS = {"not", "never", "no longer"}
NOT_VERBS = {"the", "a", "an", "of", "in", "and", "or", "to", "for", "with", "by", "on", "at", "as", "that"}
CLAUSE_END = re.compile(r"[,;:()]|\b(?:and|but|which|while|whereas|because|although|when)\b")
TOKEN = re.compile(r"\S+")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
ANTONYMS = {
    "increase": "decrease", "raise": "lower", "enhance": "reduce", "promote": "inhibit",
    "improve": "worsen", "activate": "suppress", "accelerate": "slow", "strengthen": "weaken",
    "higher": "lower", "more": "less", "greater": "smaller", "larger": "smaller", "positive": "negative",
    "beneficial": "harmful", "above": "below", "before": "after", "increased": "decreased",
    "high": "low", "positively": "negatively", "upregulate": "downregulate",
}  # fmt: skip
ANTONYMS |= {b: a for a, b in list(ANTONYMS.items())}
PREPOSITIONS = {"with", "to", "by", "in", "for", "from", "on", "of", "at", "into", "than", "between"}
DETERMINERS = {"the", "a", "an", "its", "their", "his", "her", "this", "these", "those", "our", "such", "no"}
DO_HAVE = {"has", "have", "had", "does", "do", "did"}
VERB_FORMS = ("VB", "VBN", "VBG", "VBD", "VBZ")


def _word(token: str) -> str:
    return token.strip(".,;:!?()\"'").lower()


def _verb_tag(word: str, before: str = "", after: str = "") -> tuple[str, str] | None:
    """(lemma, Penn tag) if ``word`` reads as a finite verb between the words ``before`` and ``after``.

    Forms that are also nouns/adjectives ("causes", "lack") or bare ("predict") count only when the
    word before is not a determiner or preposition and the word after is not "of"/a preposition:
    "smoking causes lung cancer" yes, "levels of IL-6" no.
    """
    if word in NOT_VERBS or not word.isalpha():
        return None
    readings = getAllLemmas(word)
    if "VERB" not in readings:
        return None
    lemma = readings["VERB"][0]
    tag = next((t for t in ("VBZ", "VBD", "VBP") if word in getInflection(lemma, t)), None)
    if tag is None:
        return None
    other_readings = bool(set(readings) & {"NOUN", "ADJ", "ADV"})
    if word == lemma and other_readings:
        return None  # bare and also a noun/adjective ("white", "lack"): too often not the verb
    ambiguous = other_readings and not word.endswith("ed") or word == lemma
    if ambiguous and (before in DETERMINERS | PREPOSITIONS | {"to"} or after in PREPOSITIONS or not after):
        return None
    return lemma, tag


def _is_verb_form(word: str) -> bool:
    """Any verb form (bare, participle, gerund): extends a verb phrase ("has been shown")."""
    return any(word in getInflection(lemma, t) for lemma in getAllLemmas(word).get("VERB", ()) for t in VERB_FORMS)


def find_verb(tokens: list[str]) -> tuple[int, str, str | None] | None:
    """The first finite verb after the subject: (token index, 'aux' or 'verb', Penn tag of a verb)."""
    words = [_word(t) for t in tokens] + [""]
    for i in range(1, len(tokens)):
        word = words[i]
        if word in AUXILIARIES:
            if word in DO_HAVE and not _is_verb_form(words[i + 1]) and words[i + 1] not in NEGATIONS:
                return i, "verb", {"has": "VBZ", "does": "VBZ", "had": "VBD", "did": "VBD"}.get(word, "VBP")
            return i, "aux", None
        tag = _verb_tag(word, words[i - 1], words[i + 1])
        if tag:
            return i, "verb", tag[1]
    return None


def _sentence_edit(edit: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """Apply a one-sentence edit to the first sentence of a passage where it applies."""

    def apply(text: str) -> str | None:
        sentences = SENTENCE.split(text)
        for i, sentence in enumerate(sentences):
            changed = edit(sentence)
            if changed and changed != sentence:
                return " ".join(sentences[:i] + [changed] + sentences[i + 1 :])
        return None

    apply.__name__ = edit.__name__
    apply.__doc__ = edit.__doc__
    return apply


def _keep_case(new: str, old: str) -> str:
    return new[:1].upper() + new[1:] if old[:1].isupper() else new


@_sentence_edit
def negation(sentence: str) -> str | None:
    """Remove the first negation, or insert one at the main verb."""
    tokens = TOKEN.findall(sentence)
    for i, token in enumerate(tokens):
        word = _word(token)
        if word in ("not", "never") and i > 0:
            previous = _word(tokens[i - 1])
            if previous in ("does", "do", "did") and i + 1 < len(tokens):  # "does not reduce" → "reduces"
                tag = {"does": "VBZ", "do": "VBP", "did": "VBD"}[previous]
                verb = _word(tokens[i + 1])
                inflected = getInflection(verb, tag)
                if inflected:
                    tail = tokens[i + 1][len(verb) :] if tokens[i + 1].lower().startswith(verb) else ""
                    return " ".join(tokens[: i - 1] + [inflected[0] + tail] + tokens[i + 2 :])
            return " ".join(tokens[:i] + tokens[i + 1 :])
        if word.endswith("n't") or word == "cannot":
            fixed = {"cannot": "can", "won't": "will", "can't": "can"}.get(word, word[:-3])
            return " ".join(tokens[:i] + [_keep_case(fixed, token)] + tokens[i + 1 :])
    found = find_verb(tokens)
    if found is None:
        return None
    i, kind, tag = found
    if kind == "aux":
        return " ".join(tokens[: i + 1] + ["not"] + tokens[i + 1 :])
    word = _word(tokens[i])
    lemma = getAllLemmas(word)["VERB"][0]
    do = {"VBZ": "does", "VBD": "did", "VBP": "do"}[tag]
    tail = tokens[i][len(_word(tokens[i])) :]
    return " ".join(tokens[:i] + [do, "not", lemma + tail] + tokens[i + 1 :])


@_sentence_edit
def role_swap(sentence: str) -> str | None:
    """Swap the noun phrases before and after the main verb phrase (within the first clause)."""
    tokens = TOKEN.findall(sentence)
    found = find_verb(tokens)
    if found is None:
        return None
    start = end = found[0]
    while end + 1 < len(tokens) and (_is_verb_form(_word(tokens[end + 1])) or _word(tokens[end + 1]) in NEGATIONS):
        end += 1  # "is associated", "has been shown", "does not cause"
    if _word(tokens[end]) in AUXILIARIES and found[1] == "aux":
        return None  # a copula or auxiliary alone ("is able to ..."): no object to swap with
    if end + 1 < len(tokens) and _word(tokens[end + 1]) in PREPOSITIONS:
        end += 1  # "associated with"
    subject, rest = tokens[:start], tokens[end + 1 :]
    cut = next((j for j, t in enumerate(rest) if CLAUSE_END.fullmatch(t) or re.search(r"[.,;:!?]$", t)), None)
    if cut is None or any(CLAUSE_END.search(t) for t in subject):
        return None
    if CLAUSE_END.fullmatch(rest[cut]):  # "... and": the clause word stays with the tail
        obj, tail, punct = rest[:cut], rest[cut:], ""
    else:
        punct = re.search(r"[.,;:!?]+$", rest[cut]).group(0)
        obj, tail = rest[:cut] + [rest[cut][: -len(punct)]], rest[cut + 1 :]
    if not (1 <= len(subject) <= 12 and 1 <= len(obj) <= 12):
        return None
    new_subject, new_object = " ".join(obj), " ".join(subject)
    first = _word(subject[0])
    if (first in DETERMINERS or getAllLemmas(first)) and not subject[0][:2].isupper():  # not "BC1", "Einstein"
        new_object = new_object[:1].lower() + new_object[1:]
    new_subject = new_subject[:1].upper() + new_subject[1:]
    return " ".join([new_subject, *tokens[start : end + 1], new_object + punct, *tail])


@_sentence_edit
def antonym(sentence: str) -> str | None:
    """Flip the first directional word (verb forms re-inflected: "increased" → "decreased")."""
    tokens = TOKEN.findall(sentence)
    for i, token in enumerate(tokens):
        word = _word(token)
        if word in ANTONYMS:
            replacement = ANTONYMS[word]
        else:
            forms = [
                getInflection(ANTONYMS[lemma], tag)
                for lemma in getAllLemmas(word).get("VERB", ())
                if lemma in ANTONYMS
                for tag in ("VBZ", "VBD", "VBP", "VBN", "VBG")
                if word in getInflection(lemma, tag)
            ]
            inflected = next((f for f in forms if f), None)
            if not inflected:
                continue
            replacement = inflected[0]
        start = token.lower().index(word)
        new = token[:start] + _keep_case(replacement, token[start:]) + token[start + len(word) :]
        return " ".join(tokens[:i] + [new] + tokens[i + 1 :])
    return None


EDITS: dict[str, Callable[[str], str | None]] = {"negation": negation, "role_swap": role_swap, "antonym": antonym}


@dataclass
class StructuralMiner:
    """Hard negatives made by editing each training positive (``edits`` in order, up to
    ``num_negatives`` per query), optionally followed by a model-based miner (``then``) for the rest."""

    edits: Sequence[str] = ("negation", "role_swap", "antonym")
    num_negatives: int = 1
    then: object | None = None  # e.g. TopKMarginMiner: mined negatives after the structural ones
    remine_every_epoch: bool = False
    rotate: bool = False  # False: try edits in order for every pair; True: pair i starts at edit i mod k
    made: dict = field(default_factory=dict)  # edit name → how many negatives it produced

    def __post_init__(self):
        unknown = [e for e in self.edits if e not in EDITS]
        if unknown:
            raise ConfigError(f"miner.miner.edits: unknown structural edit(s) {unknown}; known: {sorted(EDITS)}")

    def structural_negatives(self, pairs: list[Pair]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """{(source, query id): [(synthetic doc id, edited passage)]}; never the positive itself."""
        negatives: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.made = dict.fromkeys(self.edits, 0)
        for i, pair in enumerate(pairs):
            key = (pair.source, pair.query_id)
            chosen = negatives.setdefault(key, [])
            start = i % len(self.edits) if self.rotate else 0
            for name in [*self.edits[start:], *self.edits[:start]]:
                if len(chosen) >= self.num_negatives:
                    break
                edited = EDITS[name](pair.passage)
                if edited and edited.strip() != pair.passage.strip():
                    chosen.append((f"{pair.doc_id}#{name}", edited))
                    self.made[name] += 1
        return negatives

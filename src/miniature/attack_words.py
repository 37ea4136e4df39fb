"""Words of a text as BERT-Attack sees them: whitespace-split, stop words never attacked, spans to rebuild it."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

# BERT-Attack's filter list (the stop words of TextFooler, Jin et al. 2020): never attacked,
# never used as a substitute.
_STOP_TEXT = """
a about above across after afterwards again against ain all almost alone along already also although am
among amongst an and another any anyhow anyone anything anyway anywhere are aren aren't around as at back
been before beforehand behind being below beside besides between beyond both but by can cannot could
couldn couldn't d didn didn't doesn doesn't don don't down due during either else elsewhere empty enough
even ever everyone everything everywhere except first for former formerly from hadn hadn't hasn hasn't
haven haven't he hence her here hereafter hereby herein hereupon hers herself him himself his how however
hundred i if in indeed into is isn isn't it it's its itself just latter latterly least ll may me meanwhile
mightn mightn't mine more moreover most mostly must mustn mustn't my myself namely needn needn't neither
never nevertheless next no nobody none noone nor not nothing now nowhere o of off on once one only onto or
other others otherwise our ours ourselves out over per please s same shan shan't she she's should've
shouldn shouldn't somehow something sometime somewhere such t than that that'll the their theirs them
themselves then thence there thereafter thereby therefore therein thereupon these they this those through
throughout thru thus to too toward towards under unless until up upon used ve was wasn wasn't we were
weren weren't what whatever when whence whenever where whereafter whereas whereby wherein whereupon
wherever whether which while whither who whoever whole whom whose why with within without won won't
would wouldn wouldn't y yet you you'd you'll you're you've your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"\S+")
_PUNCT = string.punctuation + "\u201c\u201d\u2018\u2019"


def split_words(text: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """The text's whitespace-separated words (BERT-Attack's unit) and their character spans."""
    found = [(m.group(), (m.start(), m.end())) for m in _WORD.finditer(text)]
    return tuple(w for w, _ in found), tuple(s for _, s in found)


def bare(word: str) -> str:
    """The word lower-cased without the punctuation around it ("Movie," -> "movie")."""
    return word.strip(_PUNCT).lower()


def affixes(word: str) -> tuple[str, str, str]:
    """The punctuation before the word, its core, and the punctuation after ("(great!" -> "(", "great", "!")."""
    core = word.strip(_PUNCT)
    if not core:
        return "", word, ""
    start = word.index(core)
    return word[:start], core, word[start + len(core) :]


def match_case(word: str, substitute: str) -> str:
    """A lower-case substitute of a capitalised word is capitalised too (uncased attack models lower-case all)."""
    if word[:1].isupper() and substitute[:1].islower():
        return substitute[:1].upper() + substitute[1:]
    return substitute


def is_stop_word(word: str) -> bool:
    return bare(word) in STOP_WORDS


def attackable(word: str) -> bool:
    """A word the attack may change: not a stop word, and holding a letter or digit."""
    return not is_stop_word(word) and any(c.isalnum() for c in word)


def keep_substitute(word: str, substitute: str) -> bool:
    """A substitute is kept unless empty, a stop word, or the word itself."""
    sub = substitute.strip()
    return bool(sub) and not is_stop_word(sub) and sub.lower() != word.lower() and bare(sub) != bare(word)


def rebuild(text: str, spans: Sequence[tuple[int, int]], changes: dict[int, str]) -> str:
    """The text with the words at the changed indices replaced, every other character kept."""
    out, last = [], 0
    for i in sorted(changes):
        start, end = spans[i]
        out.append(text[last:start])
        out.append(changes[i])
        last = end
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class Prepared:
    """One example made ready for every target: its words and each word's substitutes.

    Substitutes depend only on the text and the attack model, so they are computed once and
    reused for every target. A word with no substitutes (a stop word, outside the attack
    model's window) has an empty tuple.
    """

    id: str
    text: str
    label: int
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    candidates: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict:
        return {"id": self.id, "text": self.text, "label": self.label,
                "candidates": [list(c) for c in self.candidates]}

    @classmethod
    def from_json(cls, row: dict) -> Prepared:
        words, spans = split_words(row["text"])
        return cls(row["id"], row["text"], int(row["label"]), words, spans,
                   tuple(tuple(c) for c in row["candidates"]))

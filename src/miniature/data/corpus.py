"""Running text for language modelling and calibration: WikiText-2's `wiki.test.raw` (the file
llama.cpp's perplexity tool reads), any UTF-8 text file, a JSONL of `{"text"}` lines, or the name `wikitext2` (the hub's
`Salesforce/wikitext`, `wikitext-2-raw-v1`, its rows written back as the raw file's lines: an
empty row as a line of one space)."""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature.exceptions import DataError
from miniature.files import json_lines, read_text
from miniature.runs import file_stamp

CORPORA = {"wikitext2": ("Salesforce/wikitext", "wikitext-2-raw-v1", "test"),
           # C4's first English validation shard (Wanda's and SparseGPT's calibration text is C4's)
           "c4": ("allenai/c4", "en/c4-validation.00000-of-00008.json.gz", "validation")}


@dataclass(frozen=True)
class Corpus:
    text: str
    source: str
    fingerprint: str


def load_corpus(source: str, split: str | None = None) -> Corpus:
    """The whole text of a local file, or of a registered name's split; a file is read once per
    process while it is unchanged (cache keys and calibration ask for it again and again)."""
    stamp = file_stamp(source)
    return _read_corpus(source, split, stamp) if stamp else _load_corpus(source, split)


@functools.lru_cache(maxsize=8)
def _read_corpus(source: str, split: str | None, stamp: tuple[int, int]) -> Corpus:
    return _load_corpus(source, split)


def _load_corpus(source: str, split: str | None) -> Corpus:
    path = Path(source)
    if path.suffix == ".jsonl":  # a JSONL of texts (IMDB's): their "text" fields, a blank line between
        texts = [row.get("text") if isinstance(row, dict) else None for _, row in json_lines(path)]
        if any(not isinstance(t, str) for t in texts):
            raise DataError(f"{path}: every line of a JSONL corpus needs a \"text\" string")
        text, name = "\n\n".join(str(t) for t in texts), str(path)
    elif path.exists() or path.suffix in (".raw", ".txt"):
        text, name = read_text(path), str(path)
    elif source in CORPORA:
        hub, config, default = CORPORA[source]
        try:
            from datasets import load_dataset

            rows = (load_dataset(hub, data_files={default: config}, split=default)["text"] if source == "c4"
                    else load_dataset(hub, config, split=split or default)["text"])
        except Exception as e:  # noqa: BLE001 - offline, unknown split, ...: one line
            raise DataError(f"could not load {hub} ({config}, split {split or default}): "
                            f"{str(e).splitlines()[0]}") from None
        text = ("\n\n".join(rows) if source == "c4" else "".join((r.rstrip("\n") or " ") + "\n" for r in rows))
        name = f"{hub}:{config}:{split or default}"
    else:
        raise DataError(f"unknown text {source!r}: give a text file (WikiText-2's wiki.test.raw) or one of "
                        f"{', '.join(CORPORA)}")
    if not text.strip():
        raise DataError(f"{name}: no text in it")
    return Corpus(text, name, hashlib.sha256(text.encode()).hexdigest()[:16])


def token_windows(tokenizer: Any, source: str, samples: int, seq_len: int, seed: int) -> list[list[int]]:
    """`samples` random windows of `seq_len` tokens of a corpus (seeded): calibration text (Wanda)
    and a language model's distillation text."""
    text = load_corpus(source).text[: samples * seq_len * 12]  # enough characters for the windows' tokens
    ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    if len(ids) <= seq_len:
        raise DataError(f"{source} tokenizes to {len(ids)} tokens, fewer than seq_len {seq_len}; give more text or "
                        "a smaller seq_len")
    rng = random.Random(seed)
    starts = [rng.randrange(0, len(ids) - seq_len) for _ in range(samples)]
    return [ids[s : s + seq_len] for s in starts]

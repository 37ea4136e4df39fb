"""Substitute words for BERT-Attack from an attack model: its masked-LM predictions, or its embedding neighbours."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice, product
from typing import Any

import numpy as np

from miniature.attack_words import (
    Prepared,
    affixes,
    attackable,
    keep_substitute,
    match_case,
    split_words,
)
from miniature.data.text import TextExample
from miniature.families import pad_token_id
from miniature.registry import Registry
from miniature.tasks.training import (
    CPU_MAX_TOKENS,
    cuda_available,
    padded_batches,
    special_tokens,
    tqdm_wrap,
)

BPE_POSITIONS, BPE_TOP, BPE_COMBINATIONS = 12, 4, 24  # BERT-Attack's caps on a multi-piece word


def piece_style(tokenizer: Any) -> str:
    """How the tokenizer marks word pieces: `wordpiece` (##), `sentencepiece` (▁ starts a word) or `bytelevel` (Ġ)."""
    first = tokenizer.convert_ids_to_tokens(tokenizer(" hello world", add_special_tokens=False)["input_ids"])
    if any(t.startswith("\u2581") for t in first):
        return "sentencepiece"
    if any(t.startswith("\u0120") for t in first):
        return "bytelevel"
    return "wordpiece"


def is_piece(token: str, style: str) -> bool:
    """A token that continues a word rather than starting one."""
    if style == "wordpiece":
        return token.startswith("##")
    return not token.startswith("\u2581" if style == "sentencepiece" else "\u0120")


def word_pieces(tokenizer: Any, words: Sequence[str]) -> list[list[int]]:
    """Each word's token ids as it reads inside the text (a leading space unless it comes first)."""
    return [tokenizer(w if i == 0 else " " + w, add_special_tokens=False)["input_ids"] for i, w in enumerate(words)]


def window(pieces: Sequence[Sequence[int]], room: int) -> list[tuple[int, int]]:
    """Each word's [start, end) token range in the joined text; words that do not end inside
    the first `room` tokens get (-1, -1)."""
    out, at = [], 0
    for p in pieces:
        out.append((at, at + len(p)) if at + len(p) <= room and p else (-1, -1))
        at += len(p)
    return out


def _batched_forward(model: Any, seqs: Sequence[Sequence[int]], pad_id: int, fn: Callable[[Any, np.ndarray], None],
                     batch_size: int = 32, progress: str | None = None) -> None:
    """Run the model over sequences in length-sorted, dynamically padded batches; `fn(logits, idx)` each."""
    import torch

    device = next(model.parameters()).device
    batches = padded_batches(seqs, pad_id, batch_size, None if cuda_available() else CPU_MAX_TOKENS, device)
    wrap = tqdm_wrap(progress is not None, progress or "")
    model.eval()
    with torch.inference_mode():
        for idx, ids, mask in wrap(batches) if wrap else batches:
            fn(model(input_ids=ids, attention_mask=mask).logits.float(), idx)


def _clean(word: str, subs: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for s in subs:
        s = match_case(word, s.strip())
        if keep_substitute(word, s) and "##" not in s:
            seen.setdefault(s.lower(), s)  # one spelling of a word: the first
    return tuple(seen.values())


class MLMSource:
    """BERT-Attack's substitutes: the attack MLM's top-K predictions at each word's positions,
    from one pass over the unmasked text. A word of several pieces gets the combinations of its
    pieces' top 4 (first 12 pieces, first 24 combinations, as the original caps them), ranked by
    the MLM's perplexity of the combination."""

    def __init__(self, model: Any, tokenizer: Any, k: int = 48, max_length: int = 512, batch_size: int = 32) -> None:
        self.model, self.tok, self.k, self.batch_size = model, tokenizer, k, batch_size
        self.prefix, self.suffix = special_tokens(tokenizer)
        self.room = max_length - len(self.prefix) - len(self.suffix)
        self.style = piece_style(tokenizer)
        self.special = set(tokenizer.all_special_ids)

    def _single(self, ids: np.ndarray) -> list[str]:
        toks = self.tok.convert_ids_to_tokens([int(i) for i in ids])
        return [t for i, t in zip(ids, toks) if int(i) not in self.special and not is_piece(t, self.style)]

    def _combinations(self, jobs: list[tuple[int, int, np.ndarray]], out: list[list[list[str]]],
                      progress: bool) -> None:
        """Rank every multi-piece word's combinations by the MLM's perplexity, in batches by length."""
        import torch

        combos = [list(islice(product(*[row.tolist() for row in top]), BPE_COMBINATIONS)) for _, _, top in jobs]
        flat = [(j, c) for j, cs in enumerate(combos) for c in cs]
        ppl = np.empty(len(flat))

        def score(logits: Any, idx: np.ndarray) -> None:
            for r, i in enumerate(idx):
                target = torch.tensor(flat[i][1], device=logits.device)
                nll = torch.nn.functional.cross_entropy(logits[r, : len(target)], target)
                ppl[i] = float(torch.exp(nll))

        # combinations read alone, without special tokens or context, as the original scores them
        _batched_forward(self.model, [c for _, c in flat], pad_token_id(self.tok), score, self.batch_size,
                         "rank combinations" if progress else None)
        at = 0
        for (ex, w, _), cs in zip(jobs, combos):
            order = np.argsort(ppl[at : at + len(cs)], kind="stable")
            out[ex][w] = [self.tok.convert_tokens_to_string(self.tok.convert_ids_to_tokens(list(cs[o]))) for o in order]
            at += len(cs)

    def __call__(self, texts: Sequence[Sequence[str]], progress: bool = False) -> list[list[list[str]]]:
        """Raw substitutes (before filtering) of every word of every text."""
        pieces = [word_pieces(self.tok, words) for words in texts]
        spans = [window(p, self.room) for p in pieces]
        seqs = [[*self.prefix, *[i for p in ps for i in p][: self.room], *self.suffix] for ps in pieces]
        shift = len(self.prefix)
        top: list[np.ndarray] = [None] * len(seqs)  # type: ignore[list-item]

        def keep_top(logits: Any, idx: np.ndarray) -> None:
            ids = logits.topk(self.k, dim=-1).indices.cpu().numpy()
            for r, i in enumerate(idx):
                top[i] = ids[r, shift : len(seqs[i])]

        _batched_forward(self.model, seqs, pad_token_id(self.tok), keep_top, self.batch_size,
                         "substitutes" if progress else None)
        out: list[list[list[str]]] = [[[] for _ in words] for words in texts]
        jobs = []
        for e, (words, sp) in enumerate(zip(texts, spans)):
            for w, (s, t) in enumerate(sp):
                if s < 0 or not attackable(words[w]):
                    continue
                if t - s == 1:
                    out[e][w] = self._single(top[e][s])
                else:
                    jobs.append((e, w, top[e][s:t][:BPE_POSITIONS, :BPE_TOP]))
        if jobs:
            self._combinations(jobs, out, progress)
        return out


class EmbeddingSource:
    """Substitutes for attack models without an MLM head: the K whole-word vocabulary entries
    nearest (cosine) to the word in the model's input-embedding space, the word being the mean
    of its pieces' embeddings. Punctuation around a word is left out of its vector and put back
    around each substitute ("film," -> "movie,")."""

    def __init__(self, model: Any, tokenizer: Any, k: int = 48, max_length: int = 512, batch_size: int = 32) -> None:
        import torch

        self.tok, self.k = tokenizer, k
        prefix, suffix = special_tokens(tokenizer)
        self.room = max_length - len(prefix) - len(suffix)
        style = piece_style(tokenizer)
        with torch.no_grad():
            emb = model.get_input_embeddings().weight.detach().float().cpu().numpy()
        self.emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(emb))))
        special = set(tokenizer.all_special_ids)
        self.words = [tokenizer.convert_tokens_to_string([t]).strip() if t else "" for t in vocab]
        self.allowed = np.array([i not in special and t is not None and not is_piece(t, style)
                                 and len(w) > 1 and w.isalpha() and attackable(w)
                                 for i, (t, w) in enumerate(zip(vocab, self.words))])

    def __call__(self, texts: Sequence[Sequence[str]], progress: bool = False) -> list[list[list[str]]]:
        pieces = [word_pieces(self.tok, words) for words in texts]
        unique: dict[tuple[int, ...], int] = {}
        where = []
        for e, (words, ps) in enumerate(zip(texts, pieces)):
            for w, (s, _) in enumerate(window(ps, self.room)):
                if s >= 0 and attackable(words[w]):
                    core = self.tok(" " + affixes(words[w])[1], add_special_tokens=False)["input_ids"]
                    where.append((e, w, unique.setdefault(tuple(core), len(unique))))
        keys = list(unique)
        found: list[list[str]] = []
        for s in range(0, len(keys), 1024):
            vec = np.stack([self.emb[list(k)].mean(axis=0) for k in keys[s : s + 1024]])
            sims = vec @ self.emb.T
            sims[:, ~self.allowed] = -np.inf
            for k, key in enumerate(keys[s : s + 1024]):
                sims[k, list(key)] = -np.inf  # never the word's own piece
            kk = min(self.k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            vals = np.take_along_axis(sims, part, axis=1)
            top = np.take_along_axis(part, np.lexsort((part, -vals), axis=1), axis=1)  # nearest first, ties by id
            found.extend([self.words[i] for i in row if np.isfinite(sims[k, i])] for k, row in enumerate(top))
        out: list[list[list[str]]] = [[[] for _ in words] for words in texts]
        for e, w, u in where:
            before, _, after = affixes(texts[e][w])
            out[e][w] = [before + f + after for f in found[u]]
        return out


SourceFactory = Callable[[Any, Any, int, int], Any]
CANDIDATE_SOURCES: Registry[str] = Registry("candidate source")
CANDIDATE_SOURCES.add("mlm", "the attack model's masked-LM top-K at each word (BERT-Attack); needs an MLM head")
CANDIDATE_SOURCES.add("embedding", "the K nearest whole words in the attack model's input-embedding space")


def prepare(examples: Sequence[TextExample], source: Any, progress: bool = False) -> list[Prepared]:
    """Every example's words and filtered substitutes (stop words, pieces, the word itself removed)."""
    split = [split_words(e.text) for e in examples]
    raw = source([words for words, _ in split], progress)
    return [Prepared(e.id, e.text, e.label, words, spans,
                     tuple(_clean(w, c) if attackable(w) else () for w, c in zip(words, subs)))
            for e, (words, spans), subs in zip(examples, split, raw)]

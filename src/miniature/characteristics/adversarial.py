"""Adversarial vulnerability: BERT-Attack outcomes per target, the paper's Table 3, and who falls together."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniature.agreement import pairwise_sets
from miniature.attack_words import Prepared
from miniature.bert_attack import OUTCOMES, AttackResult, Target, attack_all, usable
from miniature.candidates import prepare
from miniature.data.text import TextDataset
from miniature.exceptions import DataError, MismatchError
from miniature.runs import (
    DONE,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    cached,
    content_key,
    file_stems,
    meta_block,
    read_json_file,
)
from miniature.tables import to_markdown, write_table

TABLE3_COLUMNS = ["attack_model", "target_model", "original_accuracy", "after_attack_accuracy",
                  "absolute_change", "percent_change"]
METRIC_COLUMNS = ["target_model", "n", "skipped", "failed", "succeeded", "over_budget", "original_accuracy",
                  "after_attack_accuracy", "absolute_change", "percent_change", "success_rate",
                  "mean_perturbed", "mean_queries"]
AGREEMENT_COLUMNS = ["model_i", "model_j", "jaccard", "jaccard_ci_low", "jaccard_ci_high", "chance_jaccard",
                     "corrected_jaccard", "p_overlap", "size_i", "size_j", "intersection", "union", "i_in_j", "j_in_i"]


def attack_metrics(results: Sequence[AttackResult]) -> dict[str, Any]:
    """Table 3's figures and the attack's cost over one target's results.

    original accuracy = share not skipped (correct before the attack); after-attack accuracy =
    share still correct after it (failed or over budget); absolute change = their difference;
    % change = 100 * absolute / original. Success rate = succeeded / attacked (not skipped);
    mean perturbed = mean share of words changed over successful attacks; mean queries = mean
    texts scored over attacked examples.
    """
    n = len(results)
    if n == 0:
        raise DataError("no attack results to summarise")
    count: dict[str, int] = {o: sum(r.outcome == o for r in results) for o in OUTCOMES}
    attacked = n - count["skipped"]
    orig = attacked / n
    after = (count["failed"] + count["over_budget"]) / n
    won = [r for r in results if r.outcome == "succeeded"]
    return {"n": n, **count, "original_accuracy": orig, "after_attack_accuracy": after,
            "absolute_change": orig - after, "percent_change": 100 * (orig - after) / orig if orig else math.nan,
            "success_rate": count["succeeded"] / attacked if attacked else math.nan,
            "mean_perturbed": sum(r.perturbed for r in won) / len(won) if won else math.nan,
            "mean_queries": (sum(r.queries for r in results if r.outcome != "skipped") / attacked
                             if attacked else math.nan)}


@dataclass(frozen=True)
class AdversarialResult:
    """Every target's attack results over the same examples, in table order (the large one first)."""

    attack_model: str
    targets: tuple[tuple[str, tuple[AttackResult, ...]], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.targets)

    def succeeded(self, name: str) -> set[str]:
        return {r.id for r in dict(self.targets)[name] if r.outcome == "succeeded"}

    def metric_rows(self) -> list[dict]:
        return [{"target_model": n, **attack_metrics(rs)} for n, rs in self.targets]

    def rows(self) -> list[dict]:
        """The paper's Table 3: attack model, target, accuracy before and after, absolute and % change."""
        return [{"attack_model": self.attack_model, **{c: m[c] for c in TABLE3_COLUMNS[1:]}}
                for m in self.metric_rows()]

    def agreement_rows(self) -> list[dict]:
        """Jaccard of the sets of examples successfully attacked, for every pair of targets, with its
        chance level: each target's set of the same size drawn from the examples it classified
        correctly (only those can be attacked successfully)."""
        n = len(self.targets[0][1])
        correct = {name: {r.id for r in results if r.outcome != "skipped"} for name, results in self.targets}
        return [p.row() for p in pairwise_sets({name: self.succeeded(name) for name in self.names}, n, correct)]

    def markdown(self) -> str:
        return ("BERT-Attack (Table 3)\n\n" + to_markdown(self.rows(), TABLE3_COLUMNS, 4)
                + "\nOutcomes and cost\n\n" + to_markdown(self.metric_rows(), METRIC_COLUMNS, 4)
                + "\nAgreement: Jaccard of the sets of successfully attacked examples\n\n"
                + to_markdown(self.agreement_rows(), AGREEMENT_COLUMNS, 4))

    def write(self, out_dir: str | Path, meta: dict) -> dict[str, Path]:
        """adversarial.md/.csv/.json (Table 3), adversarial_metrics.*, adversarial_agreement.*,
        attacked_sets.json and every adversarial example as adversarial_examples/TARGET.jsonl."""
        out = Path(out_dir)
        paths = write_table(out, "adversarial", self.rows(), meta, TABLE3_COLUMNS, digits=4)
        for stem, rows, cols in (("adversarial_metrics", self.metric_rows(), METRIC_COLUMNS),
                                 ("adversarial_agreement", self.agreement_rows(), AGREEMENT_COLUMNS)):
            for key, p in write_table(out, stem, rows, meta, cols, 4).items():
                paths[f"{stem}_{key}"] = p
        paths["sets"] = atomic_write_json(out / "attacked_sets.json", {
            "meta": meta, "n": len(self.targets[0][1]), "sets": {n: sorted(self.succeeded(n)) for n in self.names}})
        for (name, results), stem in zip(self.targets, file_stems([n for n, _ in self.targets])):
            lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
            paths[f"examples_{name}"] = atomic_write_text(out / "adversarial_examples" / f"{stem}.jsonl", lines)
        return paths


def compare_attacks(results: Mapping[str, Sequence[AttackResult]], attack_model: str) -> AdversarialResult:
    """Table 3 and the attack agreement of targets attacked on the same examples."""
    if not results:
        raise DataError("no targets to compare")
    orders = {name: [r.id for r in rs] for name, rs in results.items()}
    first_name, first = next(iter(orders.items()))
    for name, ids in orders.items():
        if ids != first:
            raise MismatchError(f"targets {first_name!r} and {name!r} were attacked on different examples; "
                                "attack every target on the same examples")
    return AdversarialResult(attack_model, tuple((n, tuple(rs)) for n, rs in results.items()))


def candidates_key(attack_id: Any, source: str, k: int, max_length: int, examples: TextDataset) -> str:
    return content_key({"attack_model": attack_id, "source": source, "k": k, "max_length": max_length,
                        "examples": examples.fingerprint, "version": 1})


def cached_candidates(run: RunDir, key: str, examples: TextDataset, make_source: Any,
                      progress: bool = False) -> list[Prepared]:
    """Every example's substitutes, computed once per attack model and example set, reused by every target."""
    path = run.path("candidates", f"{key}.json")
    what = f"draw the attack model's substitutes for {len(examples)} texts"

    def draw() -> list[Prepared]:
        prepared = prepare(examples.examples, make_source(), progress)
        atomic_write_json(path, {"meta": meta_block(key=key, examples=examples.source),
                                 "examples": [p.to_json() for p in prepared]})
        return prepared

    return cached("candidates", path, what, draw,
                  lambda: [Prepared.from_json(row) for row in read_json_file(path)["examples"]], marker=path)


def read_jsonl_lines(path: Path) -> list[str]:
    """The JSON lines of a file, split on newlines only (texts may hold U+2028 and the like)."""
    return [x for x in path.read_text(encoding="utf-8").split("\n") if x]


def _read_partial(path: Path) -> dict[str, AttackResult]:
    """Results a killed run wrote, one JSON line each; a torn last line is dropped."""
    done: dict[str, AttackResult] = {}
    if path.is_file():
        for line in read_jsonl_lines(path):
            try:
                r = AttackResult.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError):
                break
            done[r.id] = r
    return done


def cached_attack(run: RunDir, name: str, key: str, examples: Sequence[Prepared], make_target: Any,
                  top_words: int | None, budget: float, max_unknown: float, progress: bool = False,
                  search_batch: int | None = None) -> list[AttackResult]:
    """One target's results over `examples`, cached under `run/attacks/NAME-KEY`.

    Results are appended to a work file as they come, so a killed run resumes after the last
    finished example; the final file is written atomically once all are done.
    """
    final = run.path("attacks", f"{name}-{key}")
    what = f"attack {name} on {len(examples)} texts"
    return cached("attack", final, what,
                  lambda: _attack(run, name, key, final, examples, make_target, top_words, budget, max_unknown,
                                  progress, search_batch),
                  lambda: [AttackResult.from_json(json.loads(x)) for x in read_jsonl_lines(final / "results.jsonl")],
                  marker=final / DONE)


def _attack(run: RunDir, name: str, key: str, final: Path, examples: Sequence[Prepared], make_target: Any,
            top_words: int | None, budget: float, max_unknown: float, progress: bool,
            search_batch: int | None) -> list[AttackResult]:
    target: Target = make_target()
    kept, unknown = usable(examples, target)
    if unknown > max_unknown:
        raise MismatchError(f"target {name!r} reads {unknown:.0%} of the attack model's substitutes as unknown "
                            "tokens: their vocabularies differ; choose an attack model whose vocabulary (and "
                            "language, casing) fits the target, or raise adversarial.max_unknown")
    work = run.work("attack", f"{name}-{key}.jsonl")
    done = _read_partial(work)
    todo = [ex for ex in kept if ex.id not in done]
    work.parent.mkdir(parents=True, exist_ok=True)
    # rewritten without any torn line (atomically: a kill now loses nothing), then appended to
    atomic_write_text(work, "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in done.values()))
    with open(work, "a", encoding="utf-8") as f:

        def save(r: AttackResult) -> None:
            f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

        for r in attack_all(todo, target, top_words, budget, save, progress, search_batch=search_batch):
            done[r.id] = r
    results = [done[ex.id] for ex in kept]
    lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
    atomic_write_text(final / "results.jsonl", lines)
    atomic_write_json(final / DONE, meta_block(key=key, target=name, n=len(results), unknown_share=unknown))
    work.unlink(missing_ok=True)
    return results

"""Adversarial vulnerability: BERT-Attack outcomes per target, the paper's Table 3, and who falls together."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from miniature import reportspec as rs
from miniature.agreement import pairwise_sets
from miniature.attack_words import Prepared
from miniature.bert_attack import OUTCOMES, AttackResult, Target, attack_all, usable
from miniature.candidates import prepare
from miniature.characteristics.base import CHARACTERISTICS, Characteristic, Note, rank, register
from miniature.checkpoints import classification_samples, classification_trains, classifier_weights, study_models
from miniature.config import Section, StudyConfig
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
    write_outputs,
)
from miniature.tables import to_markdown, write_table
from miniature.tasks.training import cuda_available, to_device
from miniature.zoo import ModelSpec, hf_quiet, load_tokenizer, resolve_model


class AdversarialConfig(Section):
    """Adversarial vulnerability: BERT-Attack (Li et al., 2020) against every model, fine-tuned on
    `classification.train`, on the classification task's test texts.

    The paper's "K = 3" is ambiguous: its text says the attack "finds the top K important
    words", while BERT-Attack's own K is the number of substitutes per word. We read it as the
    former (`top_words: 3`, with BERT-Attack's default of 48 substitutes); `top_words: null,
    k: 3` is the other reading.
    """

    # the texts attacked are the classification task's test sample (`classification.test`,
    # `test_limit`); its data keys lived here before, and are still read here
    moved: ClassVar[dict[str, str]] = {
        "train": "classification.train", "train_split": "classification.train_split",
        "train_limit": "classification.train_limit", "test": "classification.test",
        "test_split": "classification.test_split", "n_examples": "classification.test_limit",
        "seed": "classification.sample_seed"}

    attack_model: str = "bert-base"  # registered name, folder or hub id; the paper: BERT-base
    candidates: Literal["mlm", "embedding"] = "mlm"  # embedding: for attack models without an MLM head
    k: int = Field(48, gt=0)  # substitutes per word
    top_words: int | None = Field(3, gt=0)  # attack only the N most important words (None: all)
    budget: float = Field(0.4, gt=0, le=1)  # at most this share of a text's words changed
    max_length: int = Field(512, gt=2)  # the attack model's window, in its tokens
    max_unknown: float = Field(0.2, ge=0, le=1)  # most share of substitutes a target may read as unknown
    # substitutes of a word scored per forward pass; None: all of them on GPU, 16 on CPU (where the
    # pass is compute-bound, stopping at the first chunk with a flip saves the rest); same outcomes
    search_batch: int | None = Field(None, gt=0)

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
        paths["report"] = report_spec().write(out)
        return paths


def report_spec() -> rs.ReportSpec:
    """What the report shows of the attack: Table 3 (also exported as table3.*), the outcomes, who
    falls together, the accuracy per model and the large model's accuracy drop."""
    table3, metrics, pairs = rs.Rows("adversarial"), rs.Rows("adversarial_metrics"), rs.Rows("adversarial_agreement")
    return rs.ReportSpec(
        Adversarial.name, Adversarial.heading, Adversarial.description, rank=rank(Adversarial.name),
        files=(rs.ResultFile("adversarial", ("attack_model", "target_model"),
                             ("original_accuracy", "after_attack_accuracy")),
               rs.ResultFile("adversarial_metrics", ("target_model",)),
               rs.ResultFile("adversarial_agreement", ("model_i", "model_j"), ("jaccard",))),
        models=(table3, pairs),
        blocks=(rs.Table("Table 3: accuracy before and after BERT-Attack", table3, tuple(TABLE3_COLUMNS)),
                rs.Table("Outcomes and cost of the attack", metrics,
                         ("target_model", "n", "skipped", "failed", "succeeded", "over_budget", "success_rate",
                          "mean_perturbed", "mean_queries"))),
        agreements=(rs.Agreement("adversarial", "Adversarial: Jaccard of successfully attacked sets",
                                 "Adversarial: attacked examples", pairs, "jaccard", corrected="corrected_jaccard",
                                 low="jaccard_ci_low", high="jaccard_ci_high", chance="chance_jaccard"),),
        per_model=(rs.ModelColumns(table3, "target_model", {"original_accuracy": "original_accuracy",
                                                            "after_attack_accuracy": "after_attack_accuracy"}),),
        bars=(rs.Bars("models_attack.png", {"original_accuracy": "before attack",
                                            "after_attack_accuracy": "after attack"},
                      "Accuracy under BERT-Attack", "accuracy",
                      "Accuracy before and after BERT-Attack, per target model."),),
        cards=(rs.Card("Adversarial: accuracy drop", table3, "target_model", "percent_change", unit="%",
                       note="accuracy lost by {reference} to the attack",
                       others="compressed models lose {mean} on average"),),
        exports=(rs.Export("table3", table3, tuple(TABLE3_COLUMNS)),))


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


# ---- a study's part: every model's artifacts (cached), then the comparison written into a folder


CPU_SEARCH_BATCH = 16  # substitutes a forward pass on CPU (see AdversarialConfig.search_batch)


def _source_factory(spec: ModelSpec, acfg, progress: bool):
    """A callable loading the attack model and its candidate source (only when candidates are not cached)."""

    def make():
        from miniature.candidates import EmbeddingSource, MLMSource
        from miniature.zoo import load_encoder, load_masked_lm

        tok = load_tokenizer(spec)
        if acfg.candidates == "mlm":
            return MLMSource(to_device(load_masked_lm(spec)), tok, acfg.k, acfg.max_length)
        return EmbeddingSource(load_encoder(spec), tok, acfg.k, acfg.max_length)

    return make


def _target_factory(spec: ModelSpec, path: Path | None, label: str, cfg: StudyConfig, test: TextDataset):
    def make():
        from miniature.tasks.classification import Classifier, check_labels
        from miniature.zoo import load_causal_lm, load_classifier

        ccfg = cfg.classification
        if ccfg.zero_shot:  # a language model classifying by label words
            from miniature.tasks.prompted import PromptClassifier

            check_labels(test, len(ccfg.label_words), label)
            return PromptClassifier(load_causal_lm(spec, path), load_tokenizer(spec, path), ccfg.prompt,
                                    ccfg.label_words, ccfg.max_length, label)
        model = load_classifier(spec, path, require_head=True)
        check_labels(test, int(model.config.num_labels), label)
        return Classifier(model, load_tokenizer(spec, path), ccfg.max_length, ccfg.eval_batch_size,
                          ccfg.eval_max_tokens, ccfg.precision, label)

    return make


def model_attacks(cfg: StudyConfig, progress: bool = False) -> tuple[dict, TextDataset, str]:
    """Fine-tune every model as a classifier (cached), draw the attack model's substitutes once
    (cached), and attack every model on the same texts (cached, resumable).

    Returns target label -> its results, the attacked texts and the attack model's name.
    """
    specs, labels = study_models(cfg)
    acfg = cfg.adversarial
    attack = resolve_model(acfg.attack_model)
    train, test = classification_samples(cfg, classification_trains(cfg))
    run = RunDir(cfg.run_dir)
    hf_quiet(progress)
    ckey = candidates_key(attack.identity(), acfg.candidates, acfg.k, acfg.max_length, test)
    search_batch = acfg.search_batch or (None if cuda_available() else CPU_SEARCH_BATCH)
    prepared = cached_candidates(run, ckey, test, _source_factory(attack, acfg, progress), progress)
    results = {}
    for i, (spec, label) in enumerate(zip(specs, labels)):
        path, ident = classifier_weights(cfg, i, specs, train, run, progress)
        ccfg = cfg.classification
        zero_shot = {"prompt": ccfg.prompt, "label_words": ccfg.label_words} if ccfg.zero_shot else {}
        key = content_key({"target": ident, "candidates": ckey, "top_words": acfg.top_words, "budget": acfg.budget,
                           "max_length": ccfg.max_length, "precision": ccfg.precision, **zero_shot})
        results[label] = cached_attack(run, label, key, prepared, _target_factory(spec, path, label, cfg, test),
                                       acfg.top_words, acfg.budget, acfg.max_unknown, progress, search_batch)
    return results, test, attack.name


def finish_adversarial(cfg: StudyConfig, gathered: tuple[dict, TextDataset, str], out: str | Path | None = None,
                       progress: bool = False) -> AdversarialResult:
    """Table 3 and attack agreement from the results `model_attacks` gathered; written into `out`."""
    results, test, attack_name = gathered
    result = compare_attacks(results, attack_name)
    if out is not None:
        meta = meta_block(models=[m.model_dump() for m in cfg.models], examples=test.source,
                          examples_fingerprint=test.fingerprint, adversarial=cfg.adversarial.model_dump(),
                          classification=cfg.classification.model_dump(), run_dir=str(cfg.run_dir))
        write_outputs(out, lambda d: result.write(d, meta), "adversarial")
    return result


def adversarial(config: str | Path | StudyConfig, *, out: str | Path | None = None, overrides: Sequence[str] = (),
                progress: bool = False) -> AdversarialResult:
    """BERT-Attack against every model of a config: Table 3, outcomes, and attack agreement.

    Every model is fine-tuned for classification on `classification.train` (unless `classifier:
    true`), then attacked on the same `classification.test_limit` texts with substitutes from
    `adversarial.attack_model`. Writes adversarial.md/.csv/.json (Table 3),
    adversarial_metrics.*, adversarial_agreement.*, attacked_sets.json and
    adversarial_examples/TARGET.jsonl into `out`, if given.
    """
    return CHARACTERISTICS.get(Adversarial.name).measure(config, out=out, overrides=overrides, progress=progress)


@register
class Adversarial(Characteristic):
    """Adversarial vulnerability: every model fine-tuned for classification (or given), attacked
    with BERT-Attack (Table 3), and the pairwise agreement of the sets of texts each one falls on."""

    name = "adversarial"
    api = staticmethod(adversarial)
    config = AdversarialConfig
    heading = "Adversarial vulnerability"
    title = "adversarial vulnerability: fine-tune on reviews, BERT-Attack every model"
    description = ("adversarial vulnerability: accuracy of every model fine-tuned on IMDB before and after "
                   "BERT-Attack (Table 3), and the Jaccard of the sets of reviews each one falls on")
    sections = ("classification", "adversarial")
    tasks = ("classification",)
    verb_help = "attack every model with BERT-Attack: Table 3 and who falls together"

    def preflight(self, cfg: StudyConfig, specs: list, note: Note) -> None:
        from miniature.zoo import check_given_head

        # its data and the classifiers' are the classification task's, checked by its plug-in
        acfg = cfg.adversarial
        attack = resolve_model(acfg.attack_model)
        if acfg.candidates == "mlm":
            check_given_head(attack, "mlm")

    def gather(self, cfg: StudyConfig, progress: bool = False) -> Any:
        return model_attacks(cfg, progress)

    def finish(self, cfg: StudyConfig, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        return finish_adversarial(cfg, gathered, out, progress)



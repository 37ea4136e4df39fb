"""Text classification (IMDB-style reviews): fine-tuned on a seeded sample of `classification.train`,
compared on a seeded sample of `classification.test` (`test_limit` texts, none of them a training
text; the adversarial characteristic attacks the same texts). Outputs: the predicted class, whether
it is the label, and the class probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from miniature.checkpoints import classification_samples, classification_trains, classifier_weights, is_given
from miniature.data.text import TextDataset, load_text_dataset
from miniature.exceptions import ConfigError
from miniature.runs import RunDir, atomic_file, cached, content_key
from miniature.taskdefs.base import Outputs, Task, register


def needs_training(cfg: Any) -> bool:
    """Whether any model of the study trains (or distils) on the classification data."""
    return classification_trains(cfg)


def check_samples(cfg: Any, trains: bool) -> None:
    """The samples as drawn: at least train_limit texts to train on and test_limit texts to
    evaluate (each a sample of that size), and training texts of two classes at least."""
    from miniature.tasks.classification import check_classes

    ccfg = cfg.classification
    if trains and ccfg.train_limit is not None:
        n_train = len(load_text_dataset(ccfg.train, ccfg.train_split))
        if ccfg.train_limit > n_train:
            raise ConfigError(f"classification.train_limit is {ccfg.train_limit} but {ccfg.train} has {n_train} "
                              f"texts; lower it, e.g. --set classification.train_limit={n_train}")
    every = cfg.model_copy(update={"classification": ccfg.model_copy(update={"test_limit": None})})
    train, full_test = classification_samples(every, trains)  # the texts test_limit is drawn from
    if ccfg.test_limit is not None and ccfg.test_limit > len(full_test):
        apart = " (those not in the training sample)" if trains and ccfg.train == ccfg.test else ""
        raise ConfigError(f"classification.test_limit is {ccfg.test_limit} but {ccfg.test} has {len(full_test)} "
                          f"texts{apart}; lower it, e.g. --set classification.test_limit={len(full_test)}")
    if train is not None:
        check_classes(train)


def outputs_key(checkpoint_id: Any, items: TextDataset, cfg: Any) -> str:
    """Everything that determines a classifier's outputs: its weights, the texts, the window and
    precision (zero-shot: the prompt and label words instead of the window)."""
    c = cfg.classification
    if c.zero_shot:
        return content_key({"task": "classification", "checkpoint": checkpoint_id, "items": items.fingerprint,
                            "prompt": c.prompt, "label_words": c.label_words})
    return content_key({"task": "classification", "checkpoint": checkpoint_id, "items": items.fingerprint,
                        "max_length": c.max_length, "precision": c.precision})


@register
class Classification(Task):
    name = "classification"
    description = "text classification (IMDB reviews, SST-2): a class per text, accuracy"
    items_noun = "test texts"
    sections = ("classification",)
    head = "classifier"
    score_title = "Accuracy on the test texts"
    score_columns = ("model", "accuracy", "n")
    headline = {"accuracy": ("accuracy", "accuracy")}
    headline_bars = ("Accuracy on the test texts", "accuracy", (0.0, 1.05), 3,
                     "Accuracy of every model on the test texts.")

    def check(self, cfg: Any, specs: list[Any], note: Any) -> None:
        from miniature.tasks.classification import check_labels
        from miniature.zoo import check_given_head

        ccfg = cfg.classification
        test = load_text_dataset(ccfg.test, ccfg.test_split)
        note("classification.test", test)
        if ccfg.zero_shot:
            check_labels(test, len(ccfg.label_words), f"zero-shot ({len(ccfg.label_words)} label words)")
            from miniature.taskdefs.zero_shot import check_zero_shot_training

            check_zero_shot_training(cfg, "zero-shot classification")
            check_samples(cfg, False)
            return
        for i, spec in enumerate(specs):
            if not cfg.models[i].derived and is_given(cfg, i, self.name):
                check_given_head(spec, "classifier")
        trained = [m.display for i, m in enumerate(cfg.models) if not is_given(cfg, i, self.name) or m.derived]
        if trained:
            train = load_text_dataset(ccfg.train, ccfg.train_split)
            note("classification.train", train)
            check_labels(test, cfg.classification.num_labels or train.n_labels, trained[0])
        check_samples(cfg, bool(trained))

    def train_data(self, cfg: Any) -> TextDataset | None:
        return classification_samples(cfg, needs_training(cfg))[0]  # None where no model trains

    def items(self, cfg: Any) -> TextDataset:
        return classification_samples(cfg, needs_training(cfg))[1]

    def weights(self, cfg: Any, i: int, specs: list[Any], train: Any, run: Any, progress: bool = False) -> Any:
        return classifier_weights(cfg, i, specs, train, run, progress)

    def outputs(self, cfg: Any, spec: Any, weights: Any, items: TextDataset, run: RunDir,
                progress: bool = False) -> Outputs:
        path, ident = weights
        file = run.path("predictions", f"{spec.name}-classification-{outputs_key(ident, items, cfg)}.npz")

        def predict_it() -> Outputs:
            from miniature.families import pad_token_id
            from miniature.tasks.classification import check_labels, encode_texts, predict_probs
            from miniature.tasks.training import model_keys, to_device
            from miniature.zoo import load_causal_lm, load_classifier, load_tokenizer

            ccfg = cfg.classification
            tokenizer = load_tokenizer(spec, path)
            if ccfg.zero_shot:  # the label words' likelihoods after the prompt
                from miniature.tasks.prompted import label_word_probs, prompt_items

                model = to_device(load_causal_lm(spec, path)).eval()
                probs = label_word_probs(model, tokenizer, prompt_items(items.ids, [e.text for e in items.examples],
                                                                        ccfg.prompt, ccfg.label_words), progress)
            else:
                model = to_device(load_classifier(spec, path, require_head=True))
                check_labels(items, int(model.config.num_labels), spec.name)
                rows = encode_texts(tokenizer, [e.text for e in items.examples], ccfg.max_length, model_keys(model))
                probs = predict_probs(model, [r["input_ids"] for r in rows], pad_token_id(tokenizer),
                                      ccfg.eval_batch_size, ccfg.eval_max_tokens, ccfg.precision)
            labels = np.array([e.label for e in items.examples], dtype=np.int64)
            predicted = probs.argmax(1)
            out = Outputs(tuple(items.ids), tuple(str(int(c)) for c in predicted), predicted == labels, probs,
                          labels, source=str(file))
            with atomic_file(file) as tmp:
                out.save(tmp)
            return out

        return cached("classifier outputs", file, f"classify {len(items)} texts with {spec.name}", predict_it,
                      lambda: Outputs.load(file), marker=file)

    def fine_tunes(self, cfg: Any) -> bool:
        return not cfg.classification.zero_shot

    def card_inputs(self, cfg: Any, tokenizer: Any) -> list[dict]:
        """Zero-shot: the first texts in their prompt, as the language model reads them."""
        from miniature.tasks.prompted import prompted

        texts = [prompted(cfg.classification.prompt, e.text) for e in self.items(cfg).examples[:16]]
        return [{"input_ids": ids, "attention_mask": [1] * len(ids)}
                for ids in tokenizer(texts, truncation=True, max_length=cfg.classification.max_length)["input_ids"]]

    def describe(self, items: TextDataset, index: int) -> tuple[str, str]:
        e = items.examples[index]
        return (e.text if len(e.text) <= 300 else e.text[:300] + "..."), str(e.label)

    def points(self, cfg: Any, limit: int | None = None) -> TextDataset:
        """The test texts; `limit`: a seeded sample of that many of them (classification.sample_seed)."""
        items = self.items(cfg)
        seed = cfg.classification.sample_seed
        return items.sample(limit, seed) if limit is not None and limit < len(items) else items

    def encode(self, cfg: Any, tokenizer: Any, items: TextDataset, text: str) -> Any:
        from miniature.tasks.embed import encode_texts

        return encode_texts(tokenizer, [e.text for e in items.examples], cfg.classification.max_length)

    def embedding_fields(self, cfg: Any, text: str) -> dict[str, Any]:
        return {"task": self.name, "max_length": cfg.classification.max_length}

    def precision(self, cfg: Any) -> str:
        return str(cfg.classification.precision)

    def bank(self, cfg: Any, limit: int | None = None) -> TextDataset:
        """The training sample (as if every model trained on it); `limit`: a seeded sample of it."""
        train = classification_samples(cfg, True)[0]
        assert train is not None
        seed = cfg.classification.sample_seed
        return train.sample(limit, seed) if limit is not None and limit < len(train) else train

    def read(self, cfg: Any, source: str, split: str, limit: int | None = None) -> TextDataset:
        """Labelled texts (.jsonl/.csv, a registered name or hub id); `limit`: a seeded sample of them."""
        return load_text_dataset(source, split).sample(limit, cfg.classification.sample_seed)

    def subset(self, items: TextDataset, keep: Any, tag: str) -> TextDataset:
        from miniature.data.text import make_text_dataset

        return make_text_dataset([items.examples[i] for i in keep], f"{items.source}{tag}")

    def scores(self, items: TextDataset, outputs: Outputs) -> dict[str, Any]:
        return {"accuracy": outputs.accuracy, "n": len(outputs.ids)}

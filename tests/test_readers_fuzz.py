"""Property: every reader of a user's file, fed random bytes, random JSON or random YAML (shaped
like what it expects, so the checks deep inside are reached), returns or raises miniature's own
one-line error, never anything else."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="pip install hypothesis (the property tests' engine)")
import yaml  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from miniature.exceptions import MiniatureError  # noqa: E402

# the keys the readers look for, so random documents reach their deeper checks
KEYS = ["data", "paragraphs", "qas", "context", "question", "id", "answers", "text", "answer_start",
        "is_impossible", "title", "label", "errors", "n_questions", "universe", "version"]
CONFIG_KEYS = ["models", "name", "label", "from", "method", "params", "recovery_steps", "recovery_learning_rate",
               "distil", "finetuned", "classifier", "run_dir", "characteristics", "qa", "data", "train", "dev",
               "epochs", "max_seq_length", "doc_stride", "representation", "ks", "table_k", "phases",
               "distribution", "test", "k", "generate", "folder", "scale", "classification", "test_limit"]

scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["", "0", "1", "q1", "minilm", "int8", "prune", "errors"]))


def documents(keys: list[str]) -> st.SearchStrategy[Any]:
    """JSON-able values whose objects mostly use `keys`."""
    key = st.sampled_from(keys) | st.text(max_size=6)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=5),
                        max_leaves=25)


_names = itertools.count()
_folder = Path(tempfile.mkdtemp(prefix="miniature-fuzz-"))


def _file(data: bytes, suffix: str) -> Path:
    path = _folder / f"f{next(_names)}{suffix}"  # a new name each time: readers cache by path and stamp
    path.write_bytes(data)
    return path


def only_our_errors(read: Callable[[Path], Any], data: bytes, suffix: str) -> None:
    path = _file(data, suffix)
    try:
        read(path)
    except MiniatureError as e:
        assert "\n" not in str(e), str(e)  # one line
    finally:
        path.unlink(missing_ok=True)


def _readers() -> dict[str, tuple[Callable[[Path], Any], str]]:
    from miniature.api import _read_na_probs
    from miniature.characteristics.errors import read_error_set, read_predictions
    from miniature.characteristics.representation import load_embeddings
    from miniature.config import load_config
    from miniature.data.squad import load_qa_dataset
    from miniature.data.text import load_text_dataset

    return {
        "squad json": (load_qa_dataset, ".json"),
        "squad jsonl": (load_qa_dataset, ".jsonl"),
        "reviews jsonl": (load_text_dataset, ".jsonl"),
        "reviews csv": (load_text_dataset, ".csv"),
        "predictions": (read_predictions, ".json"),
        "no-answer probabilities": (_read_na_probs, ".json"),
        "error set": (read_error_set, ".json"),
        "config": (load_config, ".yaml"),
        "embeddings": (load_embeddings, ".npy"),
    }


READERS = _readers()
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("reader", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=600) | st.sampled_from([b"\xef\xbb\xbf", b"\xef\xbb\xbf{}", b"\x93NUMPY\x01\x00"]))
def test_random_bytes(reader, data):
    read, suffix = READERS[reader]
    only_our_errors(read, data, suffix)


@pytest.mark.parametrize("reader", sorted(set(READERS) - {"config", "embeddings", "reviews csv"}))
@FUZZ
@given(doc=documents(KEYS), bom=st.booleans(), lines=st.booleans())
def test_random_json(reader, doc, bom, lines):
    read, suffix = READERS[reader]
    if lines and isinstance(doc, list):  # one value a line, as the JSONL readers take
        text = "\n".join(json.dumps(x) for x in doc)
    else:
        text = json.dumps(doc)
    only_our_errors(read, (b"\xef\xbb\xbf" if bom else b"") + text.encode(), suffix)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(CONFIG_KEYS), documents(CONFIG_KEYS), max_size=6)
       | documents(CONFIG_KEYS))
def test_random_yaml_configs(doc):
    only_our_errors(READERS["config"][0], yaml.safe_dump(doc, allow_unicode=True).encode(), ".yaml")


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}!&*|>'\"#%@`,? \n\t0")), max_size=80))
def test_random_yaml_text(text):
    only_our_errors(READERS["config"][0], text.encode(), ".yaml")


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=8) | st.sampled_from(["0", "1", "", "true", "1.0"]), max_size=4),
                     max_size=6), header=st.sampled_from([["text", "label"], ["label", "text", "id"], ["text"], []]))
def test_random_csv(rows, header):
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    only_our_errors(READERS["reviews csv"][0], buf.getvalue().encode(), ".csv")


def _maybe(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value, sometimes any value."""
    return st.one_of(right, right, right, scalars)


answers = st.lists(st.fixed_dictionaries({"text": _maybe(st.sampled_from(["Paris", "France", "", " "])),
                                          "answer_start": _maybe(st.integers(-2, 30))}), max_size=2)
questions = st.fixed_dictionaries({"id": _maybe(st.sampled_from(["q1", "q2", "q3"])),
                                   "question": _maybe(st.text(max_size=10)),
                                   "answers": _maybe(answers)},
                                  optional={"is_impossible": _maybe(st.booleans())})
squad_docs = st.fixed_dictionaries({"data": _maybe(st.lists(st.fixed_dictionaries({
    "title": _maybe(st.text(max_size=5)),
    "paragraphs": _maybe(st.lists(st.fixed_dictionaries({
        "context": _maybe(st.sampled_from(["Paris is in France.", "", "x"])),
        "qas": _maybe(st.lists(questions, max_size=3))}), max_size=2))}), max_size=2))})


@FUZZ
@given(doc=squad_docs)
def test_squad_shaped_json(doc):
    only_our_errors(READERS["squad json"][0], json.dumps(doc).encode(), ".json")
    rows = [{**q, "context": p.get("context") if isinstance(p, dict) else None}
            for a in (doc["data"] if isinstance(doc["data"], list) else []) if isinstance(a, dict)
            for p in (a["paragraphs"] if isinstance(a["paragraphs"], list) else [])
            for q in (p["qas"] if isinstance(p, dict) and isinstance(p["qas"], list) else [])]
    only_our_errors(READERS["squad jsonl"][0], "\n".join(json.dumps(r) for r in rows).encode(), ".jsonl")


@FUZZ
@given(rows=st.lists(st.fixed_dictionaries({"text": _maybe(st.text(max_size=10)),
                                            "label": _maybe(st.integers(-1, 3))},
                                           optional={"id": _maybe(st.sampled_from(["a", "b", "c"]))}), max_size=5))
def test_review_shaped_jsonl(rows):
    only_our_errors(READERS["reviews jsonl"][0], "\n".join(json.dumps(r) for r in rows).encode(), ".jsonl")


@FUZZ
@given(sets=st.fixed_dictionaries({"errors": _maybe(st.lists(_maybe(st.sampled_from(["q1", "q2"])), max_size=3))},
                                  optional={"n_questions": scalars, "universe": scalars}),
       probs=st.dictionaries(st.sampled_from(["q1", "q2", "q3"]), scalars, max_size=3))
def test_error_set_and_probability_shaped_json(sets, probs):
    only_our_errors(READERS["error set"][0], json.dumps(sets).encode(), ".json")
    only_our_errors(READERS["no-answer probabilities"][0], json.dumps(probs).encode(), ".json")
    only_our_errors(READERS["predictions"][0], json.dumps(probs).encode(), ".json")


@FUZZ
@given(shape=st.lists(st.integers(0, 4), max_size=3),
       dtype=st.sampled_from(["float32", "float16", "int8", "bool", "complex64", "U3", "O", "V4", "f4,i4"]),
       npz=st.booleans())
def test_npy_shaped_files(shape, dtype, npz):
    import io

    import numpy as np

    arr = np.zeros(shape, dtype=dtype)
    if arr.dtype.kind == "f" and arr.size:
        arr.flat[0] = np.nan
    buf = io.BytesIO()
    (np.savez if npz else np.save)(buf, arr)
    only_our_errors(READERS["embeddings"][0], buf.getvalue(), ".npy")

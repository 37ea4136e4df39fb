"""Typed experiment config (pydantic, unknown keys refused), loaded from YAML with --set overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from miniature.exceptions import ConfigError
from miniature.files import StrictLoader, parse_yaml, read_text


def positive(text: str) -> int:
    """argparse type of a command's option: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _k_sweep(v: list[int]) -> list[int]:
    """A K sweep: every K at least 1; sorted, repeats dropped."""
    if any(k < 1 for k in v):
        raise ValueError("every K must be at least 1")
    return sorted(set(v))


KSweep = Annotated[list[int], AfterValidator(_k_sweep)]


def _known_task(v: str) -> str:
    """A registered task's name (`miniature list tasks`)."""
    load_plugins()
    if v not in TASK_NAMES:
        raise ValueError(f"unknown task {v!r}; known: {', '.join(TASK_NAMES)}")
    return v


TaskName = Annotated[str, AfterValidator(_known_task)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # keys this section had once and another section holds now: old key -> "section.key". A config
    # that still gives them there is read as if it gave them at their new place.
    moved: ClassVar[dict[str, str]] = {}


Section = _Strict  # the base of a plug-in's config section: unknown keys refused, frozen


class DistilConfig(_Strict):
    """How a `method: distil` student learns from its teacher's logits on the task data."""

    temperature: float = Field(2.0, gt=0)
    alpha: float = Field(0.5, ge=0, le=1)  # weight of the hard-label loss; 1 - alpha on the teacher's soft targets
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0)  # stop after this many steps (overrides epochs)
    learning_rate: float = Field(1e-4, gt=0)
    batch_size: int = Field(16, gt=0)
    # language models (zero-shot tasks, which have no training data): the text the student learns the
    # teacher's next-token distributions on (a file, a JSONL of {text}, c4 or wikitext2), in `samples`
    # random windows of `seq_len` tokens; recovery_steps of a causal LM train on the same windows
    text: str | None = None
    seq_len: int = Field(256, gt=1)
    samples: int = Field(256, gt=0)

    LM_FIELDS: ClassVar[frozenset[str]] = frozenset({"text", "seq_len", "samples"})

    def key_fields(self) -> dict[str, Any]:
        """What enters a distilled model's cache key (the language-model fields only where a text is
        given, so earlier keys stay as they were)."""
        return {k: v for k, v in self.model_dump().items() if self.text is not None or k not in self.LM_FIELDS}


class ModelEntry(_Strict):
    """One model of the study: a checkpoint by name, or a variant derived from another model of the study."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = None  # registered name (`miniature list models`), local folder, or hub id owner/name
    label: str | None = None  # how tables name it; defaults to `name` (derived: FROM-METHOD)
    # derive this model from an earlier model of the study (its label): compressed from that model's
    # fine-tuned checkpoint for each task, and from its pretrained weights for "before fine-tuning"
    from_: str | None = Field(None, alias="from")
    # a registered compression method (`miniature list methods`: int8, prune, heads, layers, distil);
    # checked against the registry before any work (the methods' code needs torch, the config not)
    method: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # the method's: sparsity, scope, share, keep, layers
    recovery_steps: int = Field(0, ge=0)  # prune/heads/layers: fine-tune this many steps after, zeros kept
    recovery_learning_rate: float = Field(3e-5, gt=0)  # of that recovery (linear decay to 0, batches of 16)
    distil: DistilConfig = DistilConfig()  # method distil: how the student is trained
    revision: str | None = None  # hub revision (branch, tag or commit)
    trust_remote_code: bool = False  # off unless you trust the repository's code
    finetuned_for: list[TaskName] = Field(default_factory=list)  # tasks it is already fine-tuned for (used as given)
    finetuned: bool = False  # the same as finetuned_for: [qa] (an already fine-tuned QA checkpoint)
    classifier: bool = False  # the same as finetuned_for: [classification] (e.g. a classifier of IMDB)

    @property
    def display(self) -> str:
        return self.label or self.name or f"{self.from_}-{self.method}"

    @property
    def derived(self) -> bool:
        return self.from_ is not None

    @field_validator("finetuned_for")
    @classmethod
    def _once(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @property
    def given_tasks(self) -> frozenset[str]:
        """The tasks it is used for as given: `finetuned_for`, and the older flags."""
        legacy = {"qa"} if self.finetuned else set()
        return frozenset(self.finetuned_for) | legacy | ({"classification"} if self.classifier else set())

    @model_validator(mode="after")
    def _name_or_from(self) -> ModelEntry:
        if self.derived and self.method is None:
            raise ValueError("a model with `from` needs a `method` (`miniature list methods`: int8, prune, ...)")
        if self.method is not None and not NAME.match(self.method):
            raise ValueError(f"method {self.method!r} is not a method's name; see `miniature list methods`")
        if self.method is not None and not self.derived:
            raise ValueError(f"`method: {self.method}` derives a model: give `from`, the label of the model "
                             "it compresses")
        if self.derived and self.name:
            raise ValueError("give either `name` (a checkpoint) or `from` (a derived model), not both")
        if not self.derived and not self.name:
            raise ValueError("a model needs a `name` (or `from` and `method` to derive one)")
        given = self.model_fields_set
        if not self.derived:
            stray = [k for k in ("params", "recovery_steps", "recovery_learning_rate", "distil") if k in given]
            if stray:
                raise ValueError(f"`{stray[0]}` is for a derived model (`from` and `method`); {self.display!r} is a "
                                 "checkpoint: remove it")
        elif "distil" in given and self.method != "distil":
            raise ValueError(f"the `distil` section is for `method: distil`; {self.display!r} uses {self.method}: "
                             "remove it")
        return self


class QAConfig(_Strict):
    """Extractive-QA fine-tuning and prediction; defaults are the paper's recipe."""

    seed: int = 42
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0)  # stop after this many steps (overrides epochs)
    learning_rate: float = Field(3e-5, gt=0)
    batch_size: int = Field(32, gt=0)  # per-device training batch
    gradient_accumulation_steps: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_seq_length: int = Field(384, gt=16)
    doc_stride: int = Field(128, gt=0)
    max_query_length: int = Field(64, gt=0)
    # auto: bf16 (fp16 where bf16 is missing) on GPU, fp32 on CPU; bf16 also speeds up CPU
    # prediction about 2.5x on CPUs with bf16 support, at the cost of a few changed answers
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    # prediction
    eval_batch_size: int = Field(64, gt=0)  # most windows in one batch
    # most padded tokens in one batch; None: 2,048 on CPU (bigger batches spill the cache and run
    # slower there), unlimited on GPU
    eval_max_tokens: int | None = Field(None, gt=0)
    n_best_size: int = Field(20, gt=0)
    max_answer_length: int = Field(30, gt=0)
    null_score_diff_threshold: float = 0.0

    @field_validator("doc_stride")
    @classmethod
    def _stride(cls, v: int, info: Any) -> int:
        msl = info.data.get("max_seq_length", 384)
        if v >= msl:
            raise ValueError(f"doc_stride ({v}) must be smaller than max_seq_length ({msl})")
        return v

    def training_fields(self) -> dict[str, Any]:
        """The knobs that determine the fine-tuned weights (the checkpoint's cache key)."""
        keep = {"seed", "epochs", "max_steps", "learning_rate", "batch_size", "gradient_accumulation_steps",
                "warmup_ratio", "weight_decay", "max_seq_length", "doc_stride", "max_query_length", "precision"}
        return {k: v for k, v in self.model_dump().items() if k in keep}


class DataConfig(_Strict):
    """Where the QA data comes from: .json (SQuAD v2 format), .jsonl, `squad_v2` or a hub id."""

    train: str = "squad_v2"
    train_split: str = "train"
    train_limit: int | None = Field(None, gt=0)  # first N training questions
    dev: str = "squad_v2"
    dev_split: str = "validation"
    dev_limit: int | None = Field(None, gt=0)  # first N dev questions


class ClassificationConfig(_Strict):
    """Text classification: its data (fine-tuned on a seeded sample of `train`, compared and attacked
    on a seeded sample of `test`) and its fine-tuning (the adversarial characteristic's targets)."""

    train: str = "imdb"  # training texts: .jsonl/.csv with text and label, `imdb`, `sst2` or a hub id
    train_split: str = "train"
    train_limit: int | None = Field(None, gt=0)  # a seeded random sample of N training texts
    test: str = "imdb"  # the texts compared (and attacked); those whose id is in the training sample are left out
    test_split: str = "test"
    test_limit: int | None = Field(1000, gt=0)  # a seeded random sample of N test texts (the paper: 1,000)
    sample_seed: int = 42  # which texts the two samples draw
    seed: int = 42  # the fine-tuning's seed
    epochs: float = Field(2.0, gt=0)
    max_steps: int | None = Field(None, gt=0)  # stop after this many steps (overrides epochs)
    learning_rate: float = Field(2e-5, gt=0)
    batch_size: int = Field(16, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(512, gt=2)  # tokens a text is cut to, in training and under attack
    num_labels: int | None = Field(None, gt=1)  # None: the largest label of the training data plus one
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # as qa.precision
    eval_batch_size: int = Field(64, gt=0)  # most texts in one scoring batch
    eval_max_tokens: int | None = Field(None, gt=0)  # most padded tokens a batch (None: 2,048 on CPU)
    # zero-shot: causal language models classify by the likelihood of each class's label word after
    # the prompt (lm-evaluation-harness's sst2 prompt and words by default); nothing is fine-tuned
    zero_shot: bool = False
    prompt: str = "{text}\nQuestion: Is this sentence positive or negative?\nAnswer:"
    label_words: list[str] = Field(["negative", "positive"], min_length=2)  # class 0, 1, ...

    DATA_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"train", "train_split", "train_limit", "test", "test_split", "test_limit", "sample_seed"})
    ZERO_SHOT_FIELDS: ClassVar[frozenset[str]] = frozenset({"zero_shot", "prompt", "label_words"})

    @model_validator(mode="after")
    def _prompt_has_text(self) -> ClassificationConfig:
        if self.prompt.count("{text}") != 1:
            raise ValueError("classification.prompt must hold {text} once, where the text goes")
        if any(not w.strip() for w in self.label_words):
            raise ValueError("classification.label_words: every class needs a word")
        return self

    def training_fields(self) -> dict[str, Any]:
        """The knobs that determine the fine-tuned weights (the checkpoint's cache key; the training
        sample enters it by its fingerprint)."""
        drop = {"eval_batch_size", "eval_max_tokens"} | self.DATA_FIELDS | self.ZERO_SHOT_FIELDS
        return {k: v for k, v in self.model_dump().items() if k not in drop}


class GenerateConfig(_Strict):
    """Seeded offline data (miniature.data.generate), written into `folder` before the study reads
    anything: generated SQuAD 2.0-style train and dev questions, a news-wire OOD set and labelled
    reviews (squad_train.json, squad_dev.json, news_ood.json, reviews_train.jsonl,
    reviews_test.jsonl). Files already there with the same seed and scale are kept."""

    folder: Path = Path("runs/quickstart/data")
    seed: int = 0
    scale: float = Field(1.0, gt=0)  # every count times this (the quickstart's reduced size: 0.1)


# What plug-ins add to the config, filled as they register (`characteristics.base.register`):
# the characteristics' names, in registration order (the default of `characteristics`), and the
# config section each one owns, under its name.
CHARACTERISTIC_NAMES: list[str] = []
SECTIONS: dict[str, type[BaseModel]] = {}


# names a characteristic may not take: the run folder's own folders (a characteristic's results
# folder is RUN_DIR/<name>, replaced whole) and the CLI's other verbs
RESERVED_NAMES = frozenset({"attacks", "candidates", "checkpoints", "data", "embeddings", "models",
                            "predictions", "work", "run", "report", "list", "score", "predict"})
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TASK_NAMES: list[str] = []  # the registered tasks (`taskdefs.register`), for the config's checks


def check_plugin_name(name: str, kind: str) -> None:
    """A plug-in's name: lower-case letters, digits and underscores, not a reserved name."""
    if not NAME.match(name):
        raise ValueError(f"{kind} name {name!r}: use lower-case letters, digits and underscores")
    if name in RESERVED_NAMES:
        raise ValueError(f"{kind} name {name!r} is reserved (a folder of the run folder or a CLI verb)")


def register_characteristic(name: str, section: type[BaseModel] | None = None) -> None:
    """Make a characteristic known to the config: its name, and its section (`<name>:`) if it has one."""
    check_plugin_name(name, "characteristic")
    if name in CHARACTERISTIC_NAMES:
        raise ValueError(f"characteristic {name!r} is registered twice")
    if section is not None and (name in StudyConfig.model_fields or name in SECTIONS):
        raise ValueError(f"config section {name!r} exists already")
    CHARACTERISTIC_NAMES.append(name)
    if section is not None:
        SECTIONS[name] = section


def register_section(name: str, section: type[BaseModel]) -> None:
    """A task plug-in's config section (`<name>:`): its data and knobs."""
    if name in SECTIONS or name in StudyConfig.model_fields:
        raise ValueError(f"config section {name!r} exists already")
    SECTIONS[name] = section


def unregister_characteristic(name: str) -> None:
    """Take a characteristic out again (a test's temporary plug-in)."""
    CHARACTERISTIC_NAMES.remove(name)
    SECTIONS.pop(name, None)


# modules whose import registers the built-in plug-ins; third-party packages add theirs under the
# `miniature.plugins` entry-point group
BUILT_IN_PLUGINS = ("miniature.taskdefs", "miniature.characteristics")
_loaded = False


def load_plugins() -> None:
    """Import the plug-ins (once), so that a config knows every characteristic, section and task
    however it is loaded. By name, as plug-in discovery does: the config sits below the plug-ins
    it lists. A plug-in that fails to import is a one-line ConfigError naming it."""
    global _loaded
    if _loaded:
        return
    import importlib
    from importlib.metadata import entry_points

    for module in BUILT_IN_PLUGINS:
        importlib.import_module(module)
    for entry in entry_points(group="miniature.plugins"):
        try:
            entry.load()
        except Exception as e:  # noqa: BLE001 - any failure of someone else's package
            raise ConfigError(f"the miniature plug-in {entry.name!r} ({entry.value}) failed to load: "
                              f"{type(e).__name__}: {e}; fix or uninstall it") from None
    _loaded = True


def _all_characteristics() -> list[str]:
    load_plugins()
    return list(CHARACTERISTIC_NAMES)


class StudyConfig(_Strict):
    """A study: which models, which data, which knobs, and where the run folder lives.

    This class holds the sections every study has; `study_config_class()` adds those of the
    registered characteristics (`representation`, ...), and is what a config is validated with.
    """

    run_dir: Path = Path("runs/default")  # every cached artifact, result and the report go here
    # what `miniature run` measures, in this order (each one's data must be given); default: all registered
    characteristics: list[str] = Field(default_factory=_all_characteristics, min_length=1)
    generate: GenerateConfig | None = None  # write generated data first (the offline quickstart's)
    models: list[ModelEntry] = Field(min_length=1)  # the large model first: tables and figures pair it with the rest
    data: DataConfig = DataConfig()
    qa: QAConfig = QAConfig()
    classification: ClassificationConfig = ClassificationConfig()

    if TYPE_CHECKING:  # the characteristics' sections, added by study_config_class()
        def __getattr__(self, name: str) -> Any: ...

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickled as its values, validated again on load (the class with the plug-ins' sections is
        built at run time, so pickle cannot find it by name): a config can go to another process."""
        return parse_config, (self.model_dump(mode="json", by_alias=True, exclude_unset=True),)

    @field_validator("characteristics")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        load_plugins()
        for name in v:
            if name not in CHARACTERISTIC_NAMES:
                raise ValueError(f"unknown characteristic {name!r}; known: {', '.join(CHARACTERISTIC_NAMES)}")
        return list(dict.fromkeys(v))

    @field_validator("models")
    @classmethod
    def _sources(cls, v: list[ModelEntry]) -> list[ModelEntry]:
        seen: list[str] = []
        for m in v:
            if m.derived and m.from_ not in seen:
                if m.from_ == m.display:
                    raise ValueError(f"{m.display!r} is derived from itself; set `from` to the label of the "
                                     "model it compresses")
                where = "comes later" if m.from_ in [x.display for x in v] else "is not a model of the study"
                raise ValueError(f"{m.display!r} is derived from {m.from_!r}, which {where}; "
                                 "list the model it compresses first and name it by its label")
            if m.derived and m.given_tasks:
                raise ValueError(f"{m.display!r} is derived: it takes `finetuned_for` (`finetuned`/`classifier`) "
                                 "from its source")
            seen.append(m.display)
        return v

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, raw: Any) -> Any:
        """Keys a section gave up (its `moved`) are read at their new place; given at both, once."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for name, field in cls.model_fields.items():
            section, old = field.annotation, raw.get(name)
            if not (isinstance(section, type) and issubclass(section, _Strict) and isinstance(old, dict)):
                continue
            for key in [k for k in section.moved if k in old]:
                target, new_key = section.moved[key].split(".")
                old = {k: v for k, v in old.items() if k != key}
                if not isinstance(raw.get(target) or {}, dict):
                    raise ValueError(f"{name}.{key} moved to {target}.{new_key}, but {target} is not a section "
                                     f"(got {raw[target]!r:.40}); write {target} as a mapping")
                into = dict(raw.get(target) or {})
                if new_key in into and into[new_key] != raw[name][key]:
                    raise ValueError(f"{name}.{key} is the old name of {target}.{new_key}, and both are given "
                                     f"with different values; keep {target}.{new_key} only")
                into[new_key] = raw[name][key]
                raw[target] = into
            raw[name] = old
        return raw

    @field_validator("models", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        # a bare string is shorthand for {name: ...}
        return [{"name": m} if isinstance(m, str) else m for m in v] if isinstance(v, list) else v


def _parse_scalar(text: str, key: str) -> Any:
    if not text.strip():
        return ""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - safe_load's loader, duplicate keys refused
    except yaml.YAMLError as e:
        why = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"--set {key}={text}: the value is not valid YAML ({why}); quote it, "
                          f"e.g. --set '{key}=\"{text}\"'") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.path=value` overrides (values parsed as YAML) to a raw config dict. A number in
    the path indexes a list: `models.3.recovery_steps=5` sets the fourth model's."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        key, value = item.split("=", 1)
        node: Any = raw
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: the key has an empty part; write key.path=value, e.g. qa.epochs=1")
        for depth, part in enumerate(parts):
            p: Any = part  # a key, or an int where it indexes a list
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not p.isdigit() or int(p) >= len(node):
                    raise ConfigError(f"--set {key}: {where!r} is not an item of a list of {len(node)}; "
                                      f"index it from 0 to {len(node) - 1}")
                p = int(p)
                if isinstance(node[p], str) and not last:  # a bare model name is {name: ...}
                    node[p] = {"name": node[p]}
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])!r} is not a section")
            if last:
                node[p] = _parse_scalar(value, key.strip())
            else:
                if isinstance(node, dict) and node.get(p) is None:
                    node[p] = {}
                node = node[p]
    return raw


def _describe(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        return f"unknown config key {loc!r}; remove it or check its spelling"
    if err["type"] == "missing":
        return f"config key {loc!r} is required"
    msg = err["msg"].removeprefix("Value error, ")
    return f"config key {loc!r}: {msg}" if err["loc"] else f"config: {msg}"


def with_values(section: BaseModel, values: dict[str, Any]) -> Any:
    """A config section with some values replaced (a command's options), validated as the config's
    own values are: a bad one is a one-line ConfigError naming the key."""
    if not values:
        return section
    try:
        return type(section).model_validate({**section.model_dump(), **values})
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{key} {err['input']!r}: {err['msg'].removeprefix('Value error, ')}") from None


_BUILT: dict[tuple[tuple[str, type[BaseModel]], ...], type[StudyConfig]] = {}


def study_config_class() -> type[StudyConfig]:
    """StudyConfig with a section per registered characteristic that has one (each defaulting to
    its section's defaults), built once per set of plug-ins."""
    load_plugins()
    key = tuple(SECTIONS.items())
    if key not in _BUILT:
        sections: dict[str, Any] = {name: (model, model()) for name, model in SECTIONS.items()}
        _BUILT[key] = create_model("StudyConfig", __base__=StudyConfig, __module__=__name__,
                                   __doc__=StudyConfig.__doc__, **sections)
    return _BUILT[key]


def parse_config(raw: dict[str, Any]) -> StudyConfig:
    """A validated config, its characteristics' sections included (their plug-ins must be imported:
    `miniature.characteristics` imports the built-in ones)."""
    try:
        return study_config_class().model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """Read a YAML config, apply `--set` overrides, validate. Relative data paths stay as written."""
    path = Path(path)
    raw = parse_yaml(read_text(path, "config file", ConfigError), str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping")
    return parse_config(apply_overrides(raw, overrides or []))

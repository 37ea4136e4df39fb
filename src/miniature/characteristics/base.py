"""The characteristic plug-in: one class per characteristic, in its own file, registered by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from miniature.config import check_plugin_name, register_characteristic, unregister_characteristic
from miniature.registry import Registry

Note = Callable[[str, Any], None]  # (config key, dataset read) -> recorded in the study's provenance


class Characteristic:
    """What `miniature run` needs of a characteristic; subclasses set the class attributes.

    Attributes:
        name: its registry name, the config's and the CLI's.
        heading: its section's title in the report ("Prediction errors").
        title: the stage line `miniature run` prints.
        description: one line for `miniature list characteristics` and the report.
        config: its own config section (under its name), a `miniature.config.Section`; None if it has none.
        sections: the config sections its comparison depends on (besides the models).
        tasks: the tasks its models are fine-tuned for (`qa`, `classification`): Table 1 measures
            those checkpoints, and the preflight reads those tasks' data.
    """

    name: ClassVar[str]
    heading: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    config: ClassVar[type[BaseModel] | None] = None
    sections: ClassVar[tuple[str, ...]]
    tasks: ClassVar[tuple[str, ...]] = ()

    def task_names(self, cfg: Any) -> tuple[str, ...]:
        """The tasks its models are fine-tuned for in this study (default: `tasks`)."""
        return self.tasks

    def config_sections(self, cfg: Any) -> tuple[str, ...]:
        """The config sections its comparison depends on in this study (default: `sections`)."""
        return self.sections

    verb_help: ClassVar[str] = ""  # the help line of its CLI verb, `miniature <name>` (default: its description)

    def cli_arguments(self, inputs: Any, parser: Any) -> None:
        """Its CLI verb's own options. The verb always has --config, --set, --out and --quiet;
        `inputs` (an argparse group of which exactly one must be given, holding --config) takes the
        inputs that stand instead of a config (files to compare), `parser` the other options."""

    def cli_knobs(self, args: Any) -> dict[str, Any]:
        """Values of its config section given as the verb's options (`--ks 1 5`), with and without a config."""
        return {}

    def check_arguments(self, args: Any) -> None:
        """The verb's checks of option combinations, before any work."""

    def compare_files(self, args: Any, knobs: dict[str, Any], out: Path, progress: bool = False) -> Any:
        """The verb without a config: compare the files its options name, write into `out`, return
        the result (with `markdown()`). Called only where one of its `inputs` was given."""
        raise NotImplementedError

    def preflight(self, cfg: Any, specs: list[Any], note: Note) -> None:
        """Checks of its own config and data, before any work (a bad value fails in a second)."""

    def gather(self, cfg: Any, progress: bool = False) -> Any:
        """Every model's artifacts for it, each cached in the run folder (a unit of work per model)."""
        raise NotImplementedError

    def finish(self, cfg: Any, gathered: Any, out: str | Path | None = None, progress: bool = False) -> Any:
        """Compare what `gather` returned; write the tables and figures into `out`."""
        raise NotImplementedError

    def measure(self, config: Any, *, knobs: dict[str, Any] | None = None, out: str | Path | None = None,
                overrides: Sequence[str] = (), progress: bool = False) -> Any:
        """It on a config's models (a config, or a YAML path with `overrides`): every model's
        artifacts (cached in the run folder), then the comparison, written into `out` if given.
        `knobs` replaces values of its own config section."""
        from miniature.config import load_config, with_values
        from miniature.data.generate import generate_data

        cfg = load_config(config, list(overrides)) if isinstance(config, (str, Path)) else config
        if knobs:
            cfg = cfg.model_copy(update={self.name: with_values(getattr(cfg, self.name), knobs)})
        generate_data(cfg)
        return self.finish(cfg, self.gather(cfg, progress), out, progress)

    # the public Python function `miniature.<name>` (its own, with file inputs), or None: then
    # `miniature.<name>(config, out=..., overrides=..., progress=...)` is `measure`
    api: ClassVar[Callable[..., Any] | None] = None

    def function(self) -> Callable[..., Any]:
        """`miniature.<name>`: its `api`, or `measure` under its name."""
        if self.api is not None:
            return self.api

        def run_it(config: Any, *, out: str | Path | None = None, overrides: Sequence[str] = (),
                   progress: bool = False) -> Any:
            return self.measure(config, out=out, overrides=overrides, progress=progress)

        run_it.__name__ = run_it.__qualname__ = self.name
        run_it.__doc__ = f"{self.description[:1].upper()}{self.description[1:]}: `measure` on a config's models."
        return run_it


CHARACTERISTICS: Registry[Characteristic] = Registry("characteristic")


def rank(name: str) -> int:
    """A registered characteristic's place in the registry (the report's order without a study record)."""
    return list(CHARACTERISTICS).index(name) if name in CHARACTERISTICS else len(list(CHARACTERISTICS))


def register(cls: type[Characteristic]) -> type[Characteristic]:
    """Class decorator: register one instance of a characteristic under its name, and its config
    section (`<name>:`) with the config."""
    check_plugin_name(cls.name, "characteristic")  # before anything is registered
    CHARACTERISTICS.add(cls.name, cls())
    register_characteristic(cls.name, cls.config)
    return cls


def unregister(name: str) -> None:
    """Take a characteristic out of the registry and the config again (a test's temporary plug-in)."""
    CHARACTERISTICS.remove(name)
    unregister_characteristic(name)

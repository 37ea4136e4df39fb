"""What every registered characteristic must be, in the spirit of scikit-learn's estimator checks:
complete as a plug-in, and, run in a study of one model against an identical copy of itself,
every agreement it reports is 1, every value lies in its stated range, and a rerun computes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miniature.characteristics import CHARACTERISTICS, Characteristic
from miniature.config import study_config_class

TASKS = {"qa", "classification"}  # the registered tasks a characteristic may name


def test_the_registry_keeps_the_papers_order():
    assert list(CHARACTERISTICS)[:4] == ["errors", "representation", "distribution", "adversarial"]
    assert list(CHARACTERISTICS) == study_config_class().model_fields["characteristics"].default_factory()


@pytest.mark.parametrize("name", list(CHARACTERISTICS))
def test_every_characteristic_is_complete(name):
    c = CHARACTERISTICS.get(name)
    assert isinstance(c, Characteristic) and c.name == name
    assert c.title and c.heading and c.description and "\n" not in c.description
    fields = study_config_class().model_fields
    from miniature.config import parse_config

    cfg = parse_config({"models": ["minilm"]})
    for sections in (c.sections, c.config_sections(cfg)):  # its cache key's sections exist
        assert set(sections) <= set(fields), sections
    assert set(c.task_names(cfg)) <= TASKS, c.task_names(cfg)
    if c.config is not None:  # its own section, under its name, with its defaults
        assert fields[name].annotation is c.config and name in c.sections
    assert set(c.tasks) <= TASKS and c.tasks
    for method in ("gather", "finish"):  # the base class's raise NotImplementedError is overridden
        assert getattr(type(c), method) is not getattr(Characteristic, method), method


def test_a_name_registered_twice_is_refused():
    from miniature.characteristics.base import register

    class Again(Characteristic):
        name = "errors"

    with pytest.raises(ValueError, match="registered twice"):
        register(Again)


@pytest.fixture(scope="module")
def twins(tiny_model, tmp_path_factory):
    """Every registered characteristic on one tiny model listed twice (labels a and b)."""
    from miniature import run
    from tests.test_study import study_config, write_config

    tmp = tmp_path_factory.mktemp("twins")
    cfg = study_config(tiny_model, tmp / "run")
    cfg["models"] = [{"name": cfg["models"][0]["name"], "label": "a"}, {"name": cfg["models"][0]["name"], "label": "b"}]
    cfg["adversarial"]["attack_model"] = cfg["models"][0]["name"]
    path = write_config(tmp, cfg)
    return path, run(path)


def _agreements(run_dir: Path, name: str) -> list[tuple[dict, list[dict]]]:
    spec = json.loads((run_dir / name / "report.json").read_text())
    out = []
    for a in spec["agreements"]:
        rows = json.loads((run_dir / name / f"{a['rows']['file']}.json").read_text())["rows"]
        out.append((a, [r for r in rows if all(r.get(c) == v for c, v in a["rows"]["where"].items())]))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHARACTERISTICS))
def test_a_model_agrees_fully_with_itself_and_values_lie_in_range(twins, name):
    _, result = twins
    agreements = _agreements(result.run_dir, name)
    assert agreements, f"{name} reports no agreement"
    for spec, rows in agreements:
        values = [r[spec["column"]] for r in rows]
        assert [(r["model_i"], r["model_j"]) for r in rows] == [("a", "b")]  # one row per unordered pair
        assert values == [pytest.approx(1.0, abs=1e-6)], (spec["name"], values)
        assert all(spec["lower"] - 1e-9 <= v <= 1 + 1e-9 for v in values)
        assert spec["name"] in json.loads((result.run_dir / "results.json").read_text())["agreement"]


@pytest.mark.slow
def test_a_rerun_computes_nothing(twins):
    from miniature import run

    path, first = twins
    tables = {p: p.read_bytes() for p in first.run_dir.glob("*/*.csv")}
    again = run(path)
    assert again.computed == []
    assert {p: p.read_bytes() for p in first.run_dir.glob("*/*.csv")} == tables


def test_a_plug_in_brings_its_config_section():
    """Registering a characteristic adds its name and its section to the config; unregistering
    takes both out again."""
    from miniature.characteristics.base import register, unregister
    from miniature.config import Section, parse_config
    from miniature.exceptions import ConfigError

    class ToyConfig(Section):
        width: int = 1

    class Toy(Characteristic):
        name, heading, title, description, sections = "toy", "Toy", "toy", "a toy", ("toy",)
        config = ToyConfig

        def gather(self, cfg, progress=False):
            return len(cfg.models)

        def finish(self, cfg, gathered, out=None, progress=False):
            return gathered, cfg.toy.width

    import miniature

    register(Toy)
    try:
        cfg = parse_config({"models": ["m"], "toy": {"width": 3}})
        assert cfg.toy == ToyConfig(width=3) and cfg.characteristics[-1] == "toy"
        # its Python function, with no code: miniature.toy, and miniature.measure by name with knobs
        assert miniature.toy(cfg) == (1, 3) and miniature.toy.__name__ == "toy"
        assert miniature.measure("toy", cfg, knobs={"width": 5}) == (1, 5)
        with pytest.raises(ConfigError, match="^width 'wide': Input should be a valid integer"):
            miniature.measure("toy", cfg, knobs={"width": "wide"})
        assert parse_config({"models": ["m"]}).toy == ToyConfig()
        with pytest.raises(ConfigError, match="unknown config key 'toy.depth'"):
            parse_config({"models": ["m"], "toy": {"depth": 3}})
        with pytest.raises(ValueError, match="registered twice"):
            register(Toy)
    finally:
        unregister("toy")
    assert not hasattr(miniature, "toy")
    with pytest.raises(ConfigError, match="unknown config key 'toy'"):
        parse_config({"models": ["m"], "toy": {"width": 3}})
    with pytest.raises(ConfigError, match="unknown characteristic 'toy'"):
        parse_config({"models": ["m"], "characteristics": ["toy"]})


@pytest.mark.parametrize("name, why", [("checkpoints", "is reserved"), ("report", "is reserved"),
                                       ("../up", "lower-case letters"), ("Big", "lower-case letters")])
def test_a_plug_in_may_not_take_a_run_folders_folder_or_a_verb(name, why):
    """A characteristic's results folder RUN_DIR/<name> is replaced whole: a name like
    `checkpoints` would delete the cache, `../up` would leave the run folder."""
    from miniature.characteristics.base import register

    class Bad(Characteristic):
        pass

    Bad.name = name
    with pytest.raises(ValueError, match=why):
        register(Bad)
    assert name not in CHARACTERISTICS


def test_a_plug_in_that_fails_to_load_is_one_line(monkeypatch, capsys):
    import miniature.config as config
    from miniature.cli import main

    class Entry:
        name, value = "broken", "broken_pkg:plugin"

        def load(self):
            raise ImportError("No module named 'broken_pkg'")

    monkeypatch.setattr(config, "_loaded", False)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [Entry()])
    assert main(["list", "tasks"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["miniature: error: the miniature plug-in 'broken' (broken_pkg:plugin) failed to load: "
                   "ImportError: No module named 'broken_pkg'; fix or uninstall it"]
    assert config._loaded is False  # tried again next time, not silently skipped

"""The docs' config page lists every section and key with its default: checked against the schema,
so the hand-written example cannot drift from the code (the reference below it is generated)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from miniature.config import study_config_class

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_config_pages_example_holds_every_section_with_its_defaults():
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    schema = study_config_class()
    assert set(schema.model_fields) <= set(example), set(schema.model_fields) - set(example)
    defaults = schema(models=["x"])
    for name, section in example.items():
        value = getattr(defaults, name)
        if not hasattr(value, "model_dump"):
            continue  # run_dir, characteristics, models: written as examples
        want = value.model_dump(mode="json")
        assert set(section) == set(want), (name, set(section) ^ set(want))
        assert {k: v for k, v in section.items()} == want, name

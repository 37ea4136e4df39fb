"""What every registered characteristic must be (a first conformance suite; the agreement checks,
self-agreement 1 and symmetry, are in each characteristic's own tests)."""

from __future__ import annotations

import pytest

from miniature.characteristics import CHARACTERISTICS, Characteristic
from miniature.config import StudyConfig

TASKS = {"qa", "classification"}


def test_the_registry_keeps_the_papers_order():
    assert list(CHARACTERISTICS) == ["errors", "representation", "distribution", "adversarial"]
    assert list(CHARACTERISTICS) == StudyConfig.model_fields["characteristics"].default_factory()


@pytest.mark.parametrize("name", list(CHARACTERISTICS))
def test_every_characteristic_is_complete(name):
    c = CHARACTERISTICS.get(name)
    assert isinstance(c, Characteristic) and c.name == name
    assert c.title and c.description and "\n" not in c.description
    assert set(c.sections) <= set(StudyConfig.model_fields), c.sections  # its cache key's sections exist
    assert set(c.tasks) <= TASKS and c.tasks
    for method in ("gather", "finish"):  # the base class's raise NotImplementedError is overridden
        assert getattr(type(c), method) is not getattr(Characteristic, method), method


def test_a_name_registered_twice_is_refused():
    from miniature.characteristics.base import register

    class Again(Characteristic):
        name = "errors"

    with pytest.raises(ValueError, match="registered twice"):
        register(Again)

"""Config refuses a setting that is not a whole number in its range, naming it, as it
is made (an evolved copy too): a batch of 0 or a negative lease reached the jobs as a
plain ValueError, or as requests the provider refused."""

from __future__ import annotations

import attrs
import pytest

from paycore.config import MAY_BE_NONE, MAY_BE_ZERO, SWITCHES, Config
from paycore.errors import InvalidInput

SETTINGS = [f.name for f in attrs.fields(Config) if f.name not in SWITCHES]


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_a_setting_out_of_its_range_is_refused_by_name(name: str, bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        Config(**{name: bad})
    assert caught.value.fields["field"] == name


@pytest.mark.parametrize("name", SETTINGS)
def test_zero_is_refused_where_it_means_nothing(name: str) -> None:
    """0 is a setting's value only where it means something (no pause, no hold...)."""
    if name in MAY_BE_ZERO:
        assert getattr(Config(**{name: 0}), name) == 0
    else:
        with pytest.raises(InvalidInput):
            Config(**{name: 0})


@pytest.mark.parametrize("name", SETTINGS)
def test_none_only_where_it_is_documented(name: str) -> None:
    if name in MAY_BE_NONE:
        assert getattr(Config(**{name: None}), name) is None
    else:
        with pytest.raises(InvalidInput):
            Config(**{name: None})


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_a_switch_is_true_or_false(name: str) -> None:
    with pytest.raises(InvalidInput):
        Config(**{name: 1})
    assert getattr(Config(**{name: False}), name) is False


def test_an_evolved_copy_is_checked() -> None:
    with pytest.raises(InvalidInput):
        attrs.evolve(Config(), job_batch=0)
    assert Config(job_batch=1).job_batch == 1

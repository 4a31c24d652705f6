"""fast_init: the same objects as the frozen dataclass's own __init__, made cheaper."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from pipeline.contacthistory import ContactMoment
from pipeline.invitation_policy import Decision
from pipeline.monitoring.cusum import Design
from pipeline.monitoring.dedup import Position
from pipeline.monitoring.outcomes import Outcomes
from pipeline.ports import SinkRecord
from pipeline.processing import Output
from pipeline.stages.base import Emit
from pipeline.stages.join import ContactContext
from pipeline.terms import Token
from schemas import models
from schemas.fastinit import fast_init

FAST = [Decision, Design, Position, Outcomes, SinkRecord, Output, Emit]
FAST += [ContactContext, ContactMoment, Token]  # per answer: its contact, history, words
FAST += [m for m in vars(models).values() if isinstance(m, type) and m.__base__ is models.Model]


def _plain(cls: type) -> type:
    """The same fields as a dataclass with the generated __init__ (no fast_init)."""
    specs = [
        (f.name, f.type, field(default=f.default))
        if f.default is not dataclasses.MISSING
        else (f.name, f.type)
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass("Plain" + cls.__name__, specs, frozen=True)


def _arguments(cls: type) -> dict[str, object]:
    return {f.name: f"v-{f.name}" for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_fast_init_makes_what_the_generated_init_makes(cls: type) -> None:
    assert "__create_fn__" not in cls.__init__.__qualname__  # fast_init took over
    # (the qualname says little on 3.11, where the generated one is named Class.__init__
    # too): fast_init's fills the __dict__, the generated one sets field by field
    assert "__dict__" in cls.__init__.__code__.co_names
    plain = _plain(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    every = _arguments(cls)
    # Keywords, positionals, and only the required ones (defaults filled in).
    for args, kwargs in (
        ((), every),
        (tuple(every[n] for n in names), {}),
        ((), {n: every[n] for n in required}),
    ):
        made, expected = cls(*args, **kwargs), plain(*args, **kwargs)
        assert vars(made) == vars(expected)
        assert list(vars(made)) == names  # fields in their order
        assert made == cls(*args, **kwargs)
        assert hash(made) == hash(cls(*args, **kwargs)) or not cls.__hash__
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cls(**every), names[0], "changed")
    if required:
        with pytest.raises(TypeError):
            cls(**{n: every[n] for n in required[1:]})
    with pytest.raises(TypeError):
        cls(**every, not_a_field=1)
    with pytest.raises(TypeError):
        cls(*(every[n] for n in names), "one too many")


def test_fast_init_leaves_classes_it_cannot_treat_the_same() -> None:
    @dataclass(frozen=True)
    class WithFactory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True)
    class WithPostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, kw_only=True)
    class KeywordOnly:
        a: int

    @dataclass
    class NotFrozen:
        a: int

    for cls in (WithFactory, WithPostInit, KeywordOnly, NotFrozen):
        own = cls.__init__
        assert fast_init(cls).__init__ is own

"""A cheaper `__init__` for frozen dataclasses that are made once or more per record.

A frozen dataclass's generated `__init__` sets every field with `object.__setattr__`, one
call per field (frozen forbids plain assignment): about 0.1 us a field, so an event model
of 15 fields costs more to make than to fill. `fast_init` gives such a class an
`__init__` with the same parameters, defaults and order that fills the instance's
`__dict__` in one update: the same object (fields, equality, hash, repr; still frozen),
and the same TypeError for a missing or unknown argument. Classes it cannot treat the
same way (a `__post_init__`, a default factory, an init=False or keyword-only field,
slots) keep their own `__init__`. Plain Python: no transport here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Replace the generated `__init__` of a frozen dataclass (see the module docstring);
    returns the class, so it also works as a decorator (below @dataclass)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__post_init__" in dir(cls):
        return cls
    if "__slots__" in cls.__dict__:
        return cls
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields):
        return cls
    names = [f.name for f in fields]
    if "self" in names or "__defaults" in names:
        return cls
    signature = []
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            defaults[f.name] = f.default
            signature.append(f"{f.name}=__defaults[{f.name!r}]")
    body = ", ".join(f"{name!r}: {name}" for name in names)
    source = f"def __init__(self, {', '.join(signature)}):\n    self.__dict__.update({{{body}}})\n"
    namespace: dict[str, Any] = {"__defaults": defaults}
    exec(source, namespace)  # noqa: S102 - built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[misc]
    return cls


__all__ = ["fast_init"]

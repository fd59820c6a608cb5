"""References to heavy objects by name, imported on first use.

Every run and step process imports the code location (``orchestration.definitions``) before it does
anything; trainers, model classes and expectation builders pull in scikit-learn, MLflow, Great
Expectations, Snorkel or PySpark. Definitions therefore name them (``"assets.disaster.model:TRAINERS"``)
and the asset that needs one resolves it when it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cached_property
from typing import Any


def resolve(target: Any) -> Any:
    """``"package.module:attribute"`` → that attribute (imported now); anything else as it is."""
    if not isinstance(target, str):
        return target
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"a lazy reference is 'package.module:attribute', got {target!r}")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


class LazyCallable:
    """A function named by ``"module:attribute"``; importing it is deferred to the first call."""

    def __init__(self, target: str):
        self.target = target

    @cached_property
    def function(self) -> Callable[..., Any]:
        return resolve(self.target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyCallable({self.target!r})"


def lazy(target: str) -> LazyCallable:
    return LazyCallable(target)

"""When a cell divides: conditions on its observables, or an SBML event's trigger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from .._errors import SimulationError


class Values:
    """The value of each model id at one time, by id: ``now["V"]`` (JAX scalars)."""

    def __init__(self, ids: Sequence[str], values):
        self._index = {n: i for i, n in enumerate(ids)}
        self._values = values

    def __getitem__(self, name: str):
        if name not in self._index:
            raise SimulationError(
                f"division condition: '{name}' is not an id of the model"
            )
        return self._values[self._index[name]]


@dataclass(frozen=True)
class Doubled:
    """Divide when ``id`` reaches ``factor`` times its value at birth."""

    id: str
    factor: float = 2.0

    def __call__(self, now: Values, birth: Values):
        return now[self.id] >= self.factor * birth[self.id]


@dataclass(frozen=True)
class Event:
    """Divide when the trigger of the SBML event ``id`` turns true (its assignments are
    not executed: the division is what the event means)."""

    id: str


def doubled(id: str, factor: float = 2.0) -> Doubled:  # noqa: A002 - an SBML id
    """The condition "``id`` has doubled (or grown ``factor``-fold) since birth"."""
    return Doubled(id, float(factor))


def event(id: str) -> Event:  # noqa: A002 - an SBML id
    """The condition "the trigger of SBML event ``id`` holds"."""
    return Event(id)


@dataclass(frozen=True)
class ObservableCondition:
    """A user condition ``fn(now, birth) -> bool`` on observables, in hybrid-plan form."""

    structure: Any
    fn: Callable

    def __call__(self, t, x, c, birth):
        ids = self.structure.observable_ids
        now = self.structure.observe_prog(self.structure.base(t, x, c))
        return jnp.asarray(self.fn(Values(ids, now), Values(ids, birth)), bool)


@dataclass(frozen=True)
class TriggerCondition:
    """An SBML event's trigger as a division condition, in hybrid-plan form."""

    structure: Any
    index: int

    def __call__(self, t, x, c, birth):
        return self.structure.events.programs.triggers(t, x, c)[self.index].astype(bool)


def resolve(structure, when) -> tuple[Any, str | None]:
    """The plan condition for ``when`` and the event id it consumes (if any)."""
    if isinstance(when, str):
        when = Event(when)
    if isinstance(when, Event):
        ids = [e.id for e in structure.layout.model.events]
        if when.id not in ids:
            raise SimulationError(
                f"division event '{when.id}' is not an event of the model; events are "
                f"{', '.join(ids) or 'none'}"
            )
        return TriggerCondition(structure, ids.index(when.id)), when.id
    if not callable(when):
        raise SimulationError(
            "when= must be a condition (wholecell.division.doubled, .event) or a callable "
            "(now, birth) -> bool"
        )
    return ObservableCondition(structure, when), None


def describe_condition(condition, structure) -> tuple | None:
    """A plain description of a plan condition made by `resolve` for ``structure``, for
    the programs kept on disk: an event's trigger by its index, `doubled` by its id and
    factor; None for a user's callable (its code cannot be described)."""
    if getattr(condition, "structure", None) is not structure:
        return None
    if isinstance(condition, TriggerCondition):
        return ("trigger", condition.index)
    if isinstance(condition, ObservableCondition) and type(condition.fn) is Doubled:
        return ("doubled", condition.fn.id, condition.fn.factor)
    return None

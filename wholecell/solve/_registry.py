"""The models `compile` has compiled, one `CompiledModel` per model object, and what
describes each of them to the executables kept on disk (`wholecell._executables`)."""

from __future__ import annotations

import weakref

from .._executables import cached_call
from .._now import evaluate_now, trace_state_clean
from ..compiler._program import scalar_programs_active
from ..ode._tsit5 import stiffness_checks_active

_COMPILED: dict[int, tuple[weakref.ref, object]] = {}


def lookup(model):
    """The `CompiledModel` `compile` made of ``model`` (this object), or None."""
    hit = _COMPILED.get(id(model))
    if hit is not None and hit[0]() is model:
        return hit[1]
    return None


def remember(model, compiled) -> None:
    """Keep ``compiled`` as ``model``'s, for as long as ``model`` lives."""
    key = id(model)
    _COMPILED[key] = (weakref.ref(model), compiled)
    weakref.finalize(model, _COMPILED.pop, key, None)


def stored_description(sim, *more) -> tuple | None:
    """What determines the programs of ``sim`` besides its arrays and the code: its model
    (every field), the order of its ids and the trace-time switches, then ``more``. None
    when ``sim`` is not what `compile` made of its model (then its programs may follow
    from something else, and nothing is stored)."""
    hit = lookup(sim.model)
    if hit is None or type(hit) is not type(sim) or hit.structure is not sim.structure:
        return None
    return (sim.model, sim.param_ids, sim.state_ids, sim.observable_ids,
            scalar_programs_active(), stiffness_checks_active(), *more)


def stored_evaluator(sim):
    """An ``evaluate(fn, structure, p, t0)`` for `wholecell.ode._solvers.stiffness` that
    keeps the compiled ``fn`` on disk (`cached_call`) where ``sim`` can be described, and
    is `evaluate_now` otherwise."""
    describe = stored_description(sim)
    if describe is None:
        return evaluate_now

    def evaluate(fn, structure, p, t0):
        name = getattr(fn, "__name__", None)
        if name is None or not trace_state_clean():
            return evaluate_now(fn, structure, p, t0)
        return cached_call(f"stiffness {name}", fn, (structure,), (p, t0), describe=describe,
                           quick=True)

    return evaluate

"""Compiled events: the programs of triggers, delays, priorities and assignments, and
the static `EventSpec` the integration loop's event hooks (`ode._events`) run from."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import sympy as sp

from ..sbml import _symbolic as S
from ._layout import Layout
from ._program import Program


class EventSpec(eqx.Module):
    """Static description of a model's events, built by the compiler."""

    n_events: int = eqx.field(static=True)
    n_assign: int = eqx.field(static=True)
    capacity: int = eqx.field(static=True)
    initial_value: tuple = eqx.field(static=True)
    persistent: tuple = eqx.field(static=True)
    use_trigger_values: tuple = eqx.field(static=True)
    has_delay: bool = eqx.field(static=True)
    has_priority: tuple = eqx.field(static=True)
    assign_event: tuple = eqx.field(static=True)  # (n_assign,) event of each assignment
    assign_state: tuple = eqx.field(static=True)  # (n_assign,) target state index
    assign_amount: tuple = eqx.field(static=True)  # (n_assign,) True: value * compartment
    root_index: tuple = eqx.field(static=True)  # per event: output position of g, or -1
    # species whose state is a concentration (rate rule): rescaled when their
    # compartment jumps, since an event keeps amounts
    conc_state: tuple = eqx.field(static=True)
    # programs (static, identity-hashed): `EventPrograms`
    programs: Any = eqx.field(static=True)


class EventPrograms:
    """The compiled expressions events need (identity-hashed, static)."""

    def __init__(self, structure, base, defs, events, assignments):
        sym = S.symbol
        n = len(events)
        defs = dict(defs)
        trig = [sym(f"@trigger:{i}") for i in range(n)]
        delay = [sym(f"@delay:{i}") for i in range(n)]
        prio = [sym(f"@priority:{i}") for i in range(n)]
        vals = [sym(f"@assign:{k}") for k in range(len(assignments))]
        comps = [sym(f"@assign_compartment:{k}") for k in range(len(assignments))]
        roots = [sym(f"@root:{i}") for i in range(n)]
        self.root_index = []
        for i, (trigger, delay_, priority) in enumerate(structure.layout.event_exprs):
            defs[trig[i]] = trigger
            defs[delay[i]] = delay_ if delay_ is not None else sp.Integer(0)
            defs[prio[i]] = priority if priority is not None else sp.Integer(0)
            if isinstance(defs[trig[i]], (S.Gt, S.Ge, S.Lt, S.Le)):
                a, b = defs[trig[i]].args
                defs[roots[i]] = a - b
                self.root_index.append(len([r for r in self.root_index if r >= 0]))
            else:
                self.root_index.append(-1)
        for k, (_, _, _, comp, math_) in enumerate(assignments):
            defs[vals[k]] = math_
            defs[comps[k]] = sym(comp) if comp is not None else sp.Integer(1)
        self.structure = structure
        self.trig_prog = Program(base, defs, trig)
        self.detail_prog = Program(base, defs, delay + prio + vals)
        self.root_prog = Program(
            base, defs, [roots[i] for i in range(n) if self.root_index[i] >= 0]
        )
        self.comp_prog = Program(base, defs, comps)
        L = structure.layout
        species = L.model.species_by_id()
        self.conc_state = [
            i for i, (name, s_) in enumerate(zip(L.state_ids, L.state_syms, strict=True))
            if name in species and s_ == sym(name) and not species[name].has_only_substance_units
        ]
        self.conc_prog = Program(
            base, defs, [sym(species[L.state_ids[i]].compartment) for i in self.conc_state]
        )
        self.n = n

    def triggers(self, t, x, c):
        return self.trig_prog(self.structure.base(t, x, c))

    def details(self, t, x, c, key=None):
        out = self.detail_prog(self.structure.base(t, x, c), key)
        n = self.n
        return out[:n], out[n : 2 * n], out[2 * n :]

    def roots(self, t, x, c):
        return self.root_prog(self.structure.base(t, x, c))

    def compartments(self, t, x, c):
        return self.comp_prog(self.structure.base(t, x, c))

    def conc_compartments(self, t, x, c):
        return self.conc_prog(self.structure.base(t, x, c))

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def event_spec(L: Layout, base, structure) -> EventSpec:
    events = L.model.events
    progs = EventPrograms(structure, base, L.run_defs, events, L.event_assignments)
    return EventSpec(
        n_events=len(events),
        n_assign=len(L.event_assignments),
        capacity=max(16, 4 * len(events)),
        initial_value=tuple(bool(e.initial_value) for e in events),
        persistent=tuple(bool(e.persistent) for e in events),
        use_trigger_values=tuple(bool(e.use_values_from_trigger_time) for e in events),
        has_delay=any(e.delay is not None for e in events),
        has_priority=tuple(e.priority is not None for e in events),
        assign_event=tuple(a[0] for a in L.event_assignments),
        assign_state=tuple(a[1] for a in L.event_assignments),
        assign_amount=tuple(a[2] for a in L.event_assignments),
        root_index=tuple(progs.root_index),
        conc_state=tuple(progs.conc_state),
        programs=progs,
    )

"""The ODE part of a hybrid split: d/dt of the ODE states from the ODE reactions alone.

In the frozen (communication-step) mode the ODE integrates only the states an ODE
reaction or a rate rule changes (`_laws.ode_states`). Its right-hand side needs only
those reactions' rates and the rate rules, so `OdePart` compiles a `Program` with just
them as outputs (and what they depend on). The whole model's rate program would
evaluate every stochastic propensity as well, on every stage of every step and, for a
stiff solver, once per column of the Jacobian: in the coupled minimal cell, 3,480 rates
where the 148 metabolite states need the 175 metabolic ones. There the right-hand side
went from 0.16 to 0.056 ms and its Jacobian from 22.7 to 2.2 ms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from ..compiler._program import Program
from ..sbml import _symbolic as S
from ._laws import _mask_key, ode_states

#: below this many (state, reaction) pairs the stoichiometry is a dense matrix
DENSE_LIMIT = 1_000_000


class OdePart:
    """d/dt of the ODE states ``y`` (``ode``: their indices in the whole state)."""

    def __init__(self, structure, mask):
        st = structure
        L = st.layout
        stochastic = np.asarray(mask, dtype=bool)
        self.structure = st
        self.ode = np.flatnonzero(ode_states(st, stochastic)).astype(np.int32)
        if self.ode.size == 0:  # every reaction stochastic: the first state holds still
            self.ode = np.zeros(1, dtype=np.int32)
        where = {int(i): k for k, i in enumerate(self.ode)}
        rxn = [r for r, s in enumerate(stochastic) if not s]
        rxn_pos = {st.reaction_ids[r]: k for k, r in enumerate(rxn)}
        rate_rules = sorted(L.rate_rules.items())
        rr_states = {int(i) for i, _ in rate_rules}
        entries = [e for e in L.stoich if e.reaction in rxn_pos and e.state not in rr_states]
        var_coefs = sorted({e.coefficient for e in entries
                            if isinstance(e.coefficient, sp.Symbol)}, key=str)
        factors = sorted({e.factor for e in entries if e.factor is not None}, key=str)
        outputs = ([S.symbol(st.reaction_ids[r]) for r in rxn] + [s for _, s in rate_rules]
                   + var_coefs + factors)
        self.program = self._program(L.run_defs, outputs, where) if outputs else None
        self.n_rxn = len(rxn)
        self.rr_y = np.array([where[int(i)] for i, _ in rate_rules], dtype=np.int32)
        self.rr_pos = np.arange(len(rxn), len(rxn) + len(rate_rules), dtype=np.int32)
        off = len(rxn) + len(rate_rules)
        coef_pos = {c: off + k for k, c in enumerate(var_coefs)}
        factor_pos = {f: off + len(var_coefs) + k for k, f in enumerate(factors)}
        variable = np.array([isinstance(e.coefficient, sp.Symbol) for e in entries], bool)
        self.e_y = np.array([where[int(e.state)] for e in entries], dtype=np.int32)
        self.e_rxn = np.array([rxn_pos[e.reaction] for e in entries], dtype=np.int32)
        sign = np.array([e.sign for e in entries], dtype=np.float64)
        const = np.array([0.0 if v else float(e.coefficient)
                          for e, v in zip(entries, variable, strict=True)], dtype=np.float64)
        self.e_coef = sign * const
        self.e_sign = sign
        self.e_var = variable if variable.any() else None
        self.e_var_pos = np.array([coef_pos.get(e.coefficient, 0) if v else 0
                                   for e, v in zip(entries, variable, strict=True)], np.int32)
        has_factor = np.array([e.factor is not None for e in entries], dtype=bool)
        self.e_factor = has_factor if has_factor.any() else None
        self.e_factor_pos = np.array([factor_pos.get(e.factor, 0) for e in entries], np.int32)
        self.N = None
        if (self.e_var is None and self.e_factor is None
                and self.ode.size * max(self.n_rxn, 1) <= DENSE_LIMIT):
            N = np.zeros((self.ode.size, self.n_rxn))
            np.add.at(N, (self.e_y, self.e_rxn), self.e_coef)
            self.N = N

    def _program(self, defs, outputs, where):
        """The outputs' program on a compact base: only the constants, other states, ODE
        states and time they read, gathered in that order (`_base`). With the whole
        base (~20,000 values in the coupled cell) a Jacobian by forward differentiation
        carried ~20,000 tangent entries per ODE state through every level."""
        st = self.structure
        base = st.const_syms + list(st.layout.state_syms) + [S.TIME]
        whole = Program(base, defs, outputs)
        n = whole.n_base
        used = {int(i) for lv in whole.levels for g in lv for i in g.idx.ravel() if i < n}
        used |= {int(i) for i in whole.output_index if i < n}
        n_c, n_x = len(st.const_syms), st.n_state
        self.b_c = np.array(sorted(i for i in used if i < n_c), dtype=np.int32)
        states = sorted(i - n_c for i in used if n_c <= i < n_c + n_x)
        self.b_x = np.array([i for i in states if i not in where], dtype=np.int32)
        self.b_y = np.array([where[i] for i in states if i in where], dtype=np.int32)
        self.b_t = (n_c + n_x) in used
        y_states = [i for i in states if i in where]
        small = ([base[i] for i in self.b_c] + [base[n_c + i] for i in self.b_x]
                 + [base[n_c + i] for i in y_states] + ([S.TIME] if self.b_t else []))
        return Program(small, defs, outputs)

    def _base(self, t, y, c, x):
        parts = [c[jnp.asarray(self.b_c)], x[jnp.asarray(self.b_x)], y[jnp.asarray(self.b_y)]]
        if self.b_t:
            parts.append(jnp.reshape(jnp.asarray(t, y.dtype), (1,)))
        return jnp.concatenate(parts)

    def rhs(self, t, y, c, x):
        """d/dt of ``y`` at ``t``, with the other states of ``x`` held (constants ``c``)."""
        if self.program is None:
            return jnp.zeros_like(y)
        out = self.program(self._base(t, y, c, x))
        v = out[: self.n_rxn]
        if self.N is not None:
            dy = jnp.asarray(self.N) @ v if self.n_rxn else jnp.zeros_like(y)
        else:
            coef = jnp.asarray(self.e_coef)
            if self.e_var is not None:
                coef = jnp.where(self.e_var, self.e_sign * out[self.e_var_pos], coef)
            contrib = coef * v[self.e_rxn]
            if self.e_factor is not None:
                contrib = contrib * jnp.where(self.e_factor, out[self.e_factor_pos], 1.0)
            dy = jax.ops.segment_sum(contrib, self.e_y, num_segments=y.shape[0])
        if self.rr_y.size:
            dy = dy.at[self.rr_y].set(out[self.rr_pos])
        return dy


def ode_part(structure, mask) -> OdePart:
    """The `OdePart` of ``mask``, made once per structure and mask."""
    return structure.cached("hybrid_ode:" + _mask_key(mask), lambda st: OdePart(st, mask))

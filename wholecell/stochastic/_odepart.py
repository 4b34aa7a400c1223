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

from ..compiler._program import Program
from ..sbml import _symbolic as S
from ._laws import _mask_key, ode_states

#: below this many (state, reaction) pairs the stoichiometry is a dense matrix
DENSE_LIMIT = 1_000_000


class OdePart:
    """d/dt of the ODE states ``y`` (``ode``: their indices in the whole state)."""

    def __init__(self, structure, mask):
        st = structure
        stochastic = np.asarray(mask, dtype=bool)
        self.structure = st
        self.ode = np.flatnonzero(ode_states(st, stochastic)).astype(np.int32)
        if self.ode.size == 0:  # every reaction stochastic: the first state holds still
            self.ode = np.zeros(1, dtype=np.int32)
        where = {int(i): k for k, i in enumerate(self.ode)}
        rxn = np.flatnonzero(~stochastic)
        local = np.full(st.n_reactions, -1, dtype=np.int32)
        local[rxn] = np.arange(rxn.size)
        # the structure's stoichiometry entries of the ODE reactions (a rate rule's
        # state takes the rule's value instead), and the rate program's outputs they read
        sel = np.flatnonzero(~stochastic[st.e_rxn] & ~np.isin(st.e_state, st.rr_state))
        outs = st.rhs_prog.outputs
        var = st.e_var[sel]
        has_factor = st.e_has_factor[sel]
        var_coefs = sorted({outs[i] for i in st.e_var_pos[sel][var]}, key=str)
        factors = sorted({outs[i] for i in st.e_factor_pos[sel][has_factor]}, key=str)
        outputs = ([outs[r] for r in rxn] + [outs[i] for i in st.rr_pos] + var_coefs
                   + factors)
        self.program = (self._program(st.layout.run_defs, outputs, where) if outputs
                        else None)
        self.n_rxn = int(rxn.size)
        self.rr_y = np.array([where[int(i)] for i in st.rr_state], dtype=np.int32)
        self.rr_pos = np.arange(rxn.size, rxn.size + len(st.rr_state), dtype=np.int32)
        pos = {s: rxn.size + len(st.rr_state) + k for k, s in enumerate(var_coefs + factors)}
        self.e_y = np.array([where[int(i)] for i in st.e_state[sel]], dtype=np.int32)
        self.e_rxn = local[st.e_rxn[sel]]
        self.e_sign = st.e_sign[sel]
        self.e_coef = self.e_sign * st.e_const[sel]
        self.e_var = var if var.any() else None
        self.e_var_pos = np.array([pos[outs[i]] if v else 0
                                   for i, v in zip(st.e_var_pos[sel], var, strict=True)],
                                  dtype=np.int32)
        self.e_factor = has_factor if has_factor.any() else None
        self.e_factor_pos = np.array([pos[outs[i]] if f else 0 for i, f in
                                      zip(st.e_factor_pos[sel], has_factor, strict=True)],
                                     dtype=np.int32)
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

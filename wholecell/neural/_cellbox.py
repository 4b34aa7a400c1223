"""The CellBox network ODE with an optional neural correction term (a universal ODE).

CellBox (Yuan, Shen et al. 2021, "Predicting cellular responses to perturbations using
interpretable deep learning", Cell Systems 12:128) models perturbation responses as

    dx/dt = eps * tanh(W x + u) - alpha * x,

with ``x`` the log-ratio of each node to the unperturbed control (so ``x = 0`` is the
control's steady state), ``u`` the perturbation input, ``W`` an interaction matrix and
``eps``, ``alpha`` positive per-node rates (softplus of free parameters, as CellBox).
CellBox masks ``W``: no self-loops, the drug-activity nodes receive no edges, the
phenotype nodes send none and receive none from activity nodes (its ``get_variables``,
with ``n_protein_nodes`` and ``n_activity_nodes``).

The universal differential equation (Rackauckas et al. 2020, arXiv:2001.04385) adds a
small network on the readout nodes: ``dx/dt = f_CellBox(x, u) + g_theta(x, u)``, with
``g_theta(x, u) = MLP(x, u) - MLP(0, 0)`` so that the control stays at ``x = 0``.
Every array is a pytree leaf, so optax and `jax.grad` see W, eps, alpha and the network
weights alike.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def cellbox_mask(n: int, n_protein: int, n_readout: int) -> np.ndarray:
    """CellBox's mask of allowed edges ``W[i, j]`` (j acts on i), shape (n, n)."""
    if not 0 < n_protein <= n_readout <= n:
        raise ValueError(f"need 0 < n_protein ({n_protein}) <= n_readout ({n_readout}) "
                         f"<= n ({n})")
    mask = 1.0 - np.eye(n)
    mask[n_readout:, :] = 0.0                       # activity nodes receive nothing
    mask[:, n_protein:n_readout] = 0.0              # phenotypes send nothing
    mask[n_protein:n_readout, n_readout:] = 0.0     # phenotypes ignore activity nodes
    return mask


#: what the correction network reads: the state and the perturbation, or the state only
CORRECTION_INPUTS = ("state_and_input", "state")


class Correction(eqx.Module):
    """The neural term on the readout nodes: ``g_theta(x, u) = MLP([x, u]) - MLP(0)``, or
    with ``inputs="state"`` ``g_theta(x) = MLP(x) - MLP(0)``. A state-only term sees a new
    perturbation only through the state the mechanism drives it to, which keeps it from
    extrapolating in ``u`` (e.g. to drug pairs when trained on single drugs)."""

    mlp: eqx.nn.MLP
    n: int = eqx.field(static=True)
    n_readout: int = eqx.field(static=True)
    inputs: str = eqx.field(static=True)

    def __init__(self, n: int, n_readout: int, width: int = 32, depth: int = 2, *,
                 key: Array, scale: float = 1e-2, inputs: str = "state_and_input"):
        if inputs not in CORRECTION_INPUTS:
            raise ValueError(f"Correction inputs must be one of {CORRECTION_INPUTS}, "
                             f"got {inputs!r}")
        self.n, self.n_readout, self.inputs = n, n_readout, inputs
        width_in = 2 * n if inputs == "state_and_input" else n
        mlp = eqx.nn.MLP(width_in, n_readout, width, depth, activation=jnp.tanh, key=key)
        # start near zero: the hybrid begins as the mechanistic model
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, last.weight * scale)
        self.mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, last.bias * 0.0)

    def __call__(self, x: Float[Array, " n"], u: Float[Array, " n"]) -> Float[Array, " n"]:
        z = jnp.concatenate([x, u]) if self.inputs == "state_and_input" else x
        g = self.mlp(z) - self.mlp(jnp.zeros_like(z))
        return jnp.concatenate([g, jnp.zeros(self.n - self.n_readout, dtype=g.dtype)])


class CellBox(eqx.Module):
    """``dx/dt = eps*tanh(W x + u) - alpha*x (+ g_theta(x, u))`` for one condition.

    Attributes:
        w: the free interaction matrix (masked by `cellbox_mask` in the right-hand side).
        eps_raw, alpha_raw: free parameters; ``eps = softplus(eps_raw)``, likewise alpha.
        correction: the neural term, or None for the mechanistic model alone.
        n_protein, n_readout: node counts that define the mask (static).
    """

    w: Float[Array, "n n"]
    eps_raw: Float[Array, " n"]
    alpha_raw: Float[Array, " n"]
    correction: Correction | None
    n_protein: int = eqx.field(static=True)
    n_readout: int = eqx.field(static=True)

    @property
    def n(self) -> int:
        return self.w.shape[0]

    @property
    def weights(self) -> Float[Array, "n n"]:
        """The masked interaction matrix W."""
        mask = cellbox_mask(self.n, self.n_protein, self.n_readout)
        return self.w * jnp.asarray(mask, dtype=self.w.dtype)

    @property
    def eps(self) -> Float[Array, " n"]:
        return jax.nn.softplus(self.eps_raw)

    @property
    def alpha(self) -> Float[Array, " n"]:
        return jax.nn.softplus(self.alpha_raw)

    def mechanistic(self, x: Float[Array, " n"], u: Float[Array, " n"]) -> Float[Array, " n"]:
        """The CellBox right-hand side alone."""
        return self.eps * jnp.tanh(self.weights @ x + u) - self.alpha * x

    def __call__(self, x: Float[Array, " n"], u: Float[Array, " n"]) -> Float[Array, " n"]:
        """The right-hand side dx/dt of the model (with the correction if present)."""
        f = self.mechanistic(x, u)
        return f if self.correction is None else f + self.correction(x, u)


def cellbox(n: int, n_protein: int | None = None, n_readout: int | None = None, *,
            key: Array, w_scale: float = 1e-2, hybrid: bool = False, width: int = 32,
            depth: int = 2, correction_inputs: str = "state_and_input") -> CellBox:
    """A CellBox model with random small ``W`` (normal, sd ``w_scale``), ``eps_raw`` and
    ``alpha_raw`` at 1 (as CellBox initialises them) and, if ``hybrid``, a correction
    network of ``depth`` hidden layers of ``width`` whose output starts near zero.

    Arguments:
        n: number of nodes.
        n_protein, n_readout: node counts defining the mask (default: all nodes).
        key: PRNG key.
        correction_inputs: what the correction reads, ``"state_and_input"`` (x and u) or
            ``"state"`` (x only); see `Correction`.

    Returns:
        The model.
    """
    n_readout = n if n_readout is None else n_readout
    n_protein = n_readout if n_protein is None else n_protein
    kw, kc = jax.random.split(key)
    w = w_scale * jax.random.normal(kw, (n, n))
    correction = (Correction(n, n_readout, width, depth, key=kc, inputs=correction_inputs)
                  if hybrid else None)
    return CellBox(w=w * jnp.asarray(cellbox_mask(n, n_protein, n_readout)),
                   eps_raw=jnp.ones(n), alpha_raw=jnp.ones(n), correction=correction,
                   n_protein=n_protein, n_readout=n_readout)

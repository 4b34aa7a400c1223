"""The implicit steady-state gradient of the 99-node CellBox model on all 89 conditions
of the Korkut 2015 data, against central finite differences.

    python benchmarks/neural_gradcheck.py [--params 16] [--step 1e-5] [--seed 0]

Loss: the mean squared error on the 87 readouts at a random model (W normal, sd 0.1,
masked as CellBox). Prints, per checked parameter, the implicit and the finite-difference
derivative, and the largest error relative to the gradient's largest entry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.flatten_util  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402

DATA = ROOT.parent / "shared" / "perturbation" / "cellbox_korkut2015_rppa"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=int, default=16)
    ap.add_argument("--step", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    nn = wc.neural
    d = nn.load_cellbox(DATA)
    u, y, r = jnp.asarray(d.u), jnp.asarray(d.y), jnp.asarray(d.readouts)
    model = nn.cellbox(99, 82, 87, key=jax.random.PRNGKey(args.seed), w_scale=0.1)
    params, static = eqx.partition(model, eqx.is_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    # only free entries: masked W entries have zero derivative on both sides
    free = jax.flatten_util.ravel_pytree(eqx.filter(
        eqx.tree_at(lambda m: m.w, model, jnp.asarray(nn.cellbox_mask(99, 82, 87))),
        eqx.is_array))[0]
    f = jax.jit(lambda p: nn.mse(eqx.combine(unravel(p), static), u, y, r))
    g = jax.jit(jax.grad(lambda p: nn.mse(eqx.combine(unravel(p), static), u, y, r)))(flat)
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(np.nonzero(np.asarray(free) != 0)[0], args.params, replace=False)
    h = args.step
    fd = np.array([(f(flat.at[i].add(h)) - f(flat.at[i].add(-h))) / (2 * h) for i in idx])
    gi = np.asarray(g)[idx]
    for i, a, b in zip(idx, gi, fd, strict=True):
        print(f"param {i:6d}  implicit {a: .12e}  central FD {b: .12e}")
    scale = np.max(np.abs(np.asarray(g)))
    print(f"max |implicit - FD| / max|grad| = {np.max(np.abs(gi - fd)) / scale:.3e}; "
          f"max entrywise relative error = {np.max(np.abs(gi - fd) / np.abs(fd)):.3e} "
          f"(step {h:g}, {args.params} of {int(np.sum(np.asarray(free) != 0))} free parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

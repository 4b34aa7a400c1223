"""Linearly implicit Rosenbrock methods (Rodas family) as diffrax solvers.

A Rosenbrock step solves s linear systems with the one matrix
``M = I / (h * gamma) - J``, where ``J`` is the exact Jacobian from `jax.jacfwd`; there
are no Newton iterations, so a stiff step costs one Jacobian, one LU factorisation and
s right-hand-side evaluations. The methods are stiffly accurate and L-stable, with an
embedded error estimate and a dense output of order 3 (Rodas4) or 4 (Rodas5).

Stage form (Hairer & Wanner, Solving ODEs II, IV.7, "transformed" coefficients)::

    M k_i = f(t + c_i h, y + sum_j a_ij k_j) + h d_i f_t + sum_j (C_ij / h) k_j
    y1 = y + sum_i b_i k_i,     error = sum_i e_i k_i

Coefficients: Di Marzo (1993) for Rodas5, Steinebach (2023) for Rodas5P, Hairer &
Wanner for Rodas4, as tabulated (with their dense-output matrices) in
OrdinaryDiffEq.jl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._linsolve import factor, solve


@dataclass(frozen=True)
class RosenbrockTableau:
    name: str
    order: int
    gamma: float
    a: np.ndarray  # (s, s) strictly lower: stage arguments
    C: np.ndarray  # (s, s) strictly lower: stage couplings
    c: np.ndarray  # (s,) stage times
    d: np.ndarray  # (s,) time-derivative weights
    b: np.ndarray  # (s,) solution weights
    e: np.ndarray  # (s,) error-estimate weights
    H: np.ndarray  # (n_dense, s) dense-output combinations


def _lower(rows: list[list[float]], s: int) -> np.ndarray:
    m = np.zeros((s, s))
    for i, row in enumerate(rows, start=1):
        m[i, : len(row)] = row
    return m


def _rodas5_like(name, gamma, a, C, c, d, H) -> RosenbrockTableau:
    """Rodas5-structure tableau: 8 stages, the last three accumulate onto stage 6."""
    s = 8
    a6 = list(a[4])  # a61..a65
    a_full = _lower(
        [a[0], a[1], a[2], a[3], a6, a6 + [1.0], a6 + [1.0, 1.0]], s
    )
    b = np.array(a6 + [1.0, 1.0, 1.0])
    e = np.zeros(s)
    e[-1] = 1.0
    return RosenbrockTableau(
        name, 5, gamma, a_full, _lower(C, s), np.array([0.0, *c, 1.0, 1.0, 1.0]),
        np.array([*d, 0.0, 0.0, 0.0]), b, e, np.array(H),
    )


RODAS5 = _rodas5_like(
    "Rodas5",
    0.19,
    a=[
        [2.0],
        [3.040894194418781, 1.041747909077569],
        [2.576417536461461, 1.622083060776640, -0.9089668560264532],
        [2.760842080225597, 1.446624659844071, -0.3036980084553738, 0.2877498600325443],
        [-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405,
         24.13215229196062],
    ],
    C=[
        [-10.31323885133993],
        [-21.04823117650003, -7.234992135176716],
        [32.22751541853323, -4.943732386540191, 19.44922031041879],
        [-20.69865579590063, -8.816374604402768, 1.260436877740897, -0.7495647613787146],
        [-46.22004352711257, -17.49534862857472, -289.6389582892057, 93.60855400400906,
         318.3822534212147],
        [34.20013733472935, -14.15535402717690, 57.82335640988400, 25.83362985412365,
         1.408950972071624, -6.551835421242162],
        [42.57076742291101, -13.80770672017997, 93.98938432427124, 18.77919633714503,
         -31.58359187223370, -6.685968952921985, -5.810979938412932],
    ],
    c=[0.38, 0.3878509998321533, 0.4839718937873840, 0.4570477008819580],
    d=[0.19, -0.1823079225333714636, -0.319231832186874912, 0.3449828624725343,
       -0.377417564392089818],
    H=[
        [27.354592673333357, -6.925207756232857, 26.40037733258859, 0.5635230501052979,
         -4.699151156849391, -1.6008677469422725, -1.5306074446748028, -1.3929872940716344],
        [44.19024239501722, 1.3677947663381929e-13, 202.93261852171622, -35.5669339789154,
         -181.91095152160645, 3.4116351403665033, 2.5793540257308067, 2.2435122582734066],
        [-44.0988150021747, -5.755396159656812e-13, -181.26175034586677, 56.99302194811676,
         183.21182741427398, -7.480257918273637, -5.792426076169686, -5.32503859794143],
    ],
)

RODAS5P = _rodas5_like(
    "Rodas5P",
    0.21193756319429014,
    a=[
        [3.0],
        [2.849394379747939, 0.45842242204463923],
        [-6.954028509809101, 2.489845061869568, -10.358996098473584],
        [2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641],
        [-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
         0.030198172008377946],
    ],
    C=[
        [-14.155112264123755],
        [-17.97296035885952, -2.859693295451294],
        [147.12150275711716, -1.41221402718213, 71.68940251302358],
        [165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306],
        [24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125,
         -0.6610691825249471],
        [30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783,
         -19.097331116725623, -28.087943162872662],
        [37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047,
         -40.06618937091002, -54.66780262877968, -9.48861652309627],
    ],
    c=[0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664],
    d=[0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
       2.325825639765069],
    H=[
        [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
         0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
        [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
         20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372],
        [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
         -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722],
    ],
)


def _rodas4() -> RosenbrockTableau:
    s = 6
    a5 = [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950]
    a = _lower(
        [
            [1.544000000000000],
            [0.9466785280815826, 0.2557011698983284],
            [3.314825187068521, 2.896124015972201, 0.9986419139977817],
            a5,
            a5 + [1.0],
        ],
        s,
    )
    C = _lower(
        [
            [-5.668800000000000],
            [-2.430093356833875, -0.2063599157091915],
            [-0.1073529058151375, -9.594562251023355, -20.47028614809616],
            [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160],
            [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
             -6.058818238834054],
        ],
        s,
    )
    H = np.array(
        [
            [10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
             1.025137723295662, 0.0],
            [-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
             -6.594389125716872, 0.0],
        ]
    )
    e = np.zeros(s)
    e[-1] = 1.0
    return RosenbrockTableau(
        "Rodas4", 4, 0.25, a, C, np.array([0.0, 0.386, 0.21, 0.63, 1.0, 1.0]),
        np.array([0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0]), np.array(a5 + [1.0, 1.0]), e, H,
    )


RODAS4 = _rodas4()
TABLEAUS = {"rodas5": RODAS5, "rodas5p": RODAS5P, "rodas4": RODAS4}


class RosenbrockInterpolation(diffrax.AbstractLocalInterpolation):
    """Dense output ``y(θ) = (1-θ) y0 + θ (y1 + (1-θ)(k1 + θ (k2 + θ k3 ...)))``."""

    t0: jax.Array
    t1: jax.Array
    y0: jax.Array
    y1: jax.Array
    kd: jax.Array  # (n_dense, n)

    def evaluate(self, t0, t1=None, left: bool = True):
        if t1 is not None:
            return self.evaluate(t1, left=left) - self.evaluate(t0, left=left)
        dt = self.t1 - self.t0
        theta = jnp.where(dt == 0, 1.0, (t0 - self.t0) / jnp.where(dt == 0, 1.0, dt))
        inner = self.kd[-1]
        for k in range(self.kd.shape[0] - 2, -1, -1):
            inner = self.kd[k] + theta * inner
        one_minus = 1.0 - theta
        return one_minus * self.y0 + theta * (self.y1 + one_minus * inner)


class Rosenbrock(diffrax.AbstractAdaptiveSolver):
    """A Rodas-family Rosenbrock method for stiff ODEs (exact Jacobian by `jax.jacfwd`).

    Arguments:
        tableau: the method's coefficients (`RODAS5`, `RODAS5P` or `RODAS4`).
        jacobian: optional ``jac(t, y, args) -> (J, f_t)``; default differentiates the
            vector field with `jax.jacfwd`.
        roll_stages: compute the stages in a `jax.lax.fori_loop` rather than unrolled
            (the same arithmetic; see `_solvers.roll_stages_for`).
    """

    tableau: RosenbrockTableau = eqx.field(static=True)
    jacobian: object = eqx.field(static=True, default=None)
    roll_stages: bool = eqx.field(static=True, default=False)

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar = RosenbrockInterpolation

    def order(self, terms):
        return self.tableau.order

    def init(self, terms, t0, t1, y0, args):
        return None

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        tab = self.tableau
        h = t1 - t0
        n = y0.shape[0]

        def f(t, y):
            return terms.vf(t, y, args)

        if self.jacobian is not None:
            J, ft = self.jacobian(t0, y0, args)
        else:
            z0 = jnp.concatenate([jnp.reshape(t0, (1,)).astype(y0.dtype), y0])
            Jz = jax.jacfwd(lambda z: f(z[0], z[1:]))(z0)
            ft, J = Jz[:, 0], Jz[:, 1:]
        M = jnp.eye(n, dtype=y0.dtype) / (h * tab.gamma) - J
        lu, perm = factor(M)
        stages = self._stages_in_a_loop if self.roll_stages else self._stages_unrolled
        K = stages(f, t0, h, y0, ft, M, lu, perm)
        y1 = y0 + jnp.asarray(tab.b) @ K
        err = jnp.asarray(tab.e) @ K
        dense = dict(y0=y0, y1=y1, kd=jnp.asarray(tab.H) @ K)
        return y1, err, dense, None, diffrax.RESULTS.successful

    def _stages_unrolled(self, f, t0, h, y0, ft, M, lu, perm):
        """The stages ``K`` (s, n), each written out, skipping the tableau's zeros."""
        tab = self.tableau
        # one division per step: a quotient per coupling would be a kernel of its own
        # (XLA does not fuse a scalar division into several consumers), 28 of a Rodas5
        # step's ~160 on the CPU
        inv_h = 1.0 / h
        ks = []
        for i in range(tab.a.shape[0]):
            u = y0
            for j in range(i):
                if tab.a[i, j] != 0.0:
                    u = u + tab.a[i, j] * ks[j]
            rhs = f(t0 + tab.c[i] * h, u)
            if tab.d[i] != 0.0:
                rhs = rhs + (h * tab.d[i]) * ft
            coupled = [tab.C[i, j] * ks[j] for j in range(i) if tab.C[i, j] != 0.0]
            if coupled:
                rhs = rhs + sum(coupled[1:], coupled[0]) * inv_h
            ks.append(solve(M, lu, perm, rhs))
        return jnp.stack(ks)

    def _stages_in_a_loop(self, f, t0, h, y0, ft, M, lu, perm):
        """The stages ``K`` (s, n), one per iteration of a loop: row i of the tableau
        picks the earlier stages (its zeros the later ones, still zero in ``K``)."""
        tab = self.tableau
        dtype = y0.dtype
        a, C = jnp.asarray(tab.a, dtype), jnp.asarray(tab.C, dtype)
        c, d = jnp.asarray(tab.c, dtype), jnp.asarray(tab.d, dtype)

        def stage(i, K):
            rhs = f(t0 + c[i] * h, y0 + a[i] @ K) + (h * d[i]) * ft + (C[i] / h) @ K
            return K.at[i].set(solve(M, lu, perm, rhs))

        s = tab.a.shape[0]
        return jax.lax.fori_loop(0, s, stage, jnp.zeros((s, y0.shape[0]), dtype))


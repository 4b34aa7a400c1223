"""The solve plan: which solver runs a simulation, by which route, and why.

Every choice the library makes about how to solve lives here: the ODE method for
``solver="auto"`` (stiffness at the start), whether a method can run the model at all,
how a batch runs (lock step, one `vmap`, members one after another), and the stiff
method an explicit one falls back to. `plan` returns a `Plan`; ``wc.simulate`` records
it on the result (``res.plan``, ``res.solver``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._errors import SimulationError
from ..ensemble._lockstep import MIN_BDF_MEMBERS, lockstep_applies
from ..ode._solvers import EXPLICIT, STIFFNESS_THRESHOLD, bdf_applies, stiffness
from ._registry import stored_evaluator

#: the ways a batch of ODE solves runs
ROUTES = {
    "single": "one solve",
    "lockstep": "all members in one loop on batch-last arrays (wholecell.ensemble)",
    "vmap": "jax.vmap of one solve",
    "members": "members one after another (a BDF loop's branches stay branches)",
    "stochastic": "chunks of stochastic trajectories (wholecell.stochastic)",
}


@dataclass(frozen=True)
class Plan:
    """How a simulation runs.

    Attributes:
        method: ``"ode"``, ``"ssa"``, ``"tau"`` or ``"hybrid"``.
        solver: the ODE method (``"tsit5"``, ``"bdf"``, ``"rodas5"``, ...), or for a
            stochastic run the method's label (``"ssa"``, ``"ode:tsit5"``, ...).
        route: a key of `ROUTES`.
        reasons: why each choice was made, in order.
        fallback: the stiff method to rerun with if an explicit method chosen for
            ``solver="auto"`` fails (stiffness can set in after the start), else None.
    """

    method: str
    solver: str
    route: str
    reasons: tuple[str, ...]
    fallback: str | None = None

    def __str__(self) -> str:
        return f"{self.method}: {self.solver} by {self.route} ({'; '.join(self.reasons)})"


def plan(sim, method: str = "ode", batch: int = 1, *, solver: str = "auto",
         span: float = 1e3, p=None, t0: float = 0.0, vmap: bool = False) -> Plan:
    """The plan for solving ``batch`` members of ``sim`` (a `CompiledModel`).

    ``span`` is the time span, ``p`` the parameters at which stiffness is judged
    (default: the model's own) and ``t0`` the start. ``vmap=True`` plans a batch that runs
    as one `vmap` where it cannot run in lock step (`CompiledModel.solve_batch`);
    otherwise BDF members that cannot run in lock step run one after another
    (``wc.simulate``).
    """
    st = sim.structure
    if method != "ode":
        return stochastic_plan(method, method)
    p = st.nominal_params if p is None else p
    reasons = []
    fallback = None
    if solver == "auto":
        batched = vmap and not lockstep_applies(st, "bdf", batch)
        solver, why = _choose(sim, span, p, t0, batched)
        reasons.append(why)
        if solver in EXPLICIT:
            fallback = "bdf" if bdf_applies(st) else "rodas5"
    else:
        reasons.append(f"solver '{solver}' was asked for")
    check_solver(st, solver, sim.model.id)
    route = route_for(st, solver, batch, vmap=vmap)
    reasons.append(_route_reason(st, solver, batch, route))
    return Plan(method, solver, route, tuple(reasons), fallback)


def stochastic_plan(method: str, label: str, *, draws: bool = False) -> Plan:
    """The plan of a stochastic run (``label``: the method as its result names it)."""
    why = (f"method '{method}': trajectories in chunks" if not draws else
           "the model's events draw random numbers: one ODE solve per trajectory, each "
           "with its own PRNG stream")
    return Plan(method, label, "stochastic", (why,))


def after_failure(sim, first: Plan, batch: int, *, vmap: bool = False,
                  stiff: bool = False) -> Plan:
    """The plan that replaces ``first`` when its explicit method failed for a member, or
    (``stiff``) stopped because its steps stayed at its stability limit."""
    solver = first.fallback
    route = route_for(sim.structure, solver, batch, vmap=vmap)
    if stiff:
        why = (f"{first.solver}'s steps stayed at its stability limit for a member "
               f"(stiffness, detected as in Hairer & Wanner's DOPRI5): rerun with {solver}")
    else:
        why = (f"{first.solver} failed for a member (stiffness that sets in after the "
               f"start): rerun with {solver}")
    return replace(first, solver=solver, route=route, fallback=None,
                   reasons=first.reasons + (why, _route_reason(sim.structure, solver,
                                                                batch, route)))


def choose_solver(sim, span: float, p, t0: float, *, batched: bool = False) -> str:
    """The method ``solver="auto"`` means for a problem (see `plan`'s reasons)."""
    return _choose(sim, span, p, t0, batched)[0]


def _choose(sim, span: float, p, t0: float, batched: bool) -> tuple[str, str]:
    """``"tsit5"`` unless the problem is stiff at the start; then ``"bdf"`` (Jacobian and
    factors reused over many steps), or ``"rodas5"`` for models with events, delays or
    fast reactions, and for solves that run as one `vmap` batch (``batched``), where
    BDF's branches (a new Jacobian, new factors) would become selects that every member
    pays for in every step. Differentiated solves get BDF too: its reverse-mode gradient
    agrees with rodas5's (3e-6 on BIOMD0000000019) and takes 0.25-0.27 s against
    0.45-0.49 s."""
    rho = stiffness(sim, p, t0, stored_evaluator(sim))
    measure = rho * max(span, 0.0)
    if measure <= STIFFNESS_THRESHOLD:
        return "tsit5", (f"not stiff: spectral radius x time span = {measure:.3g} "
                         f"<= {STIFFNESS_THRESHOLD:g} at the start")
    stiff = f"stiff: spectral radius x time span = {measure:.3g} > {STIFFNESS_THRESHOLD:g}"
    if not bdf_applies(sim.structure):
        return "rodas5", stiff + "; events, delays or fast reactions need rodas5's loop"
    if batched:
        return "rodas5", stiff + "; the batch runs as one vmap, where BDF's branches cost all"
    return "bdf", stiff + "; BDF reuses its Jacobian and factors over many steps"


def check_solver(structure, solver: str, model_id: str) -> None:
    """Refuse a method that cannot run the model: BDF integrates plain ODEs only."""
    if solver != "bdf":
        return
    what = [
        name for name, present in (
            ("events", structure.events is not None), ("delay", bool(structure.delays)),
            ("fast reactions", bool(structure.fast.size)),
        ) if present
    ]
    if what:
        raise SimulationError(
            f"solver 'bdf' does not support {' and '.join(what)} (model '{model_id}'); "
            "use 'rodas5' or 'auto'"
        )


def route_for(structure, solver: str, batch: int, *, vmap: bool = False) -> str:
    """How ``batch`` solves with ``solver`` run (a key of `ROUTES`)."""
    if lockstep_applies(structure, solver, batch):
        return "lockstep"
    if vmap:
        return "vmap"
    if batch == 1:
        return "single"
    return "members" if solver == "bdf" else "vmap"


def _route_reason(structure, solver: str, batch: int, route: str) -> str:
    if route == "lockstep":
        return f"{batch} member(s) in lock step: {solver} on a model without events, " \
               "delays or fast reactions"
    if route == "single":
        return "one member"
    if solver == "bdf" and batch < MIN_BDF_MEMBERS:
        return (f"{batch} members: BDF runs in lock step from {MIN_BDF_MEMBERS} on")
    if route == "members":
        return "BDF members that cannot run in lock step run one after another"
    return f"{batch} members that cannot run in lock step run as one vmap"

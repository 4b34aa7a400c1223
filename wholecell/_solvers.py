"""Named ODE methods: which diffrax solver a method name means."""

from __future__ import annotations

import diffrax

from ._errors import SimulationError

#: methods that need no Jacobian
EXPLICIT = ("tsit5", "dopri5", "dopri8", "bosh3")
#: implicit / linearly implicit methods for stiff problems
STIFF = ("kvaerno5", "kvaerno3", "rodas5", "ros3p", "rodas4")


def make_solver(name: str, rtol: float, atol: float) -> diffrax.AbstractSolver:
    """The diffrax solver called ``name`` (case-insensitive)."""
    key = name.lower()
    if key == "tsit5":
        return diffrax.Tsit5()
    if key == "dopri5":
        return diffrax.Dopri5()
    if key == "dopri8":
        return diffrax.Dopri8()
    if key == "bosh3":
        return diffrax.Bosh3()
    if key in ("kvaerno5", "kvaerno3"):
        cls = diffrax.Kvaerno5 if key == "kvaerno5" else diffrax.Kvaerno3
        return cls(root_finder=diffrax.VeryChord(rtol=rtol, atol=atol))
    if key in ("rodas5", "ros3p", "rodas4"):
        from ._rosenbrock import make_rosenbrock

        return make_rosenbrock(key)
    raise SimulationError(
        f"unknown ODE solver '{name}'; choose one of {', '.join(EXPLICIT + STIFF)} or 'auto'"
    )

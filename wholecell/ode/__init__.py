"""Deterministic integration of one trajectory.

Owns the step loop and its status codes (`_integrate`), the unrolled Tsit5
(`_explicit`), Rosenbrock methods (`_rosenbrock`), variable-order BDF (`_bdf`), dense
linear solves (`_linsolve`), events (`_events`), delay histories (`_history`) and the
choice and construction of a solver (`_solvers`).
"""

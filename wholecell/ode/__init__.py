"""Deterministic integration of one trajectory.

Owns the step loop and its status codes (`_integrate`), Tsitouras' 5(4) tableau
(`_tsit5`) and the unrolled Tsit5 (`_explicit`), Rosenbrock methods (`_rosenbrock`),
variable-order BDF (`_bdf`), dense linear solves (`_linsolve`), the event hooks of the
loop (`_events`) and the choice and construction of a method (`_solvers`). Reads a
`compiler.Structure`; imports nothing above `wholecell.compiler`.
"""

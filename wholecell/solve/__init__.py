"""A compiled model and how it is solved.

Owns `CompiledModel` and `compile` (`_compiled`): the compiled `Structure`
(`wholecell.compiler`) with its parameter values, and the methods that solve it with the
loops of `wholecell.ode` and `wholecell.ensemble`; the solve plan (`_plan`): which
solver and which route a solve takes, and why; and the checks of a simulation's inputs
(`_inputs`: output times, parameter values and batches).
"""

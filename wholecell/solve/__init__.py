"""A compiled model and how it is solved: `CompiledModel`, `compile`, the solve plan.

Owns `CompiledModel` and `compile` (`_compiled`): the compiled structure
(`wholecell.compiler`) with its parameter values and the methods that solve it with the
integration loops of `wholecell.ode` and `wholecell.ensemble`.
"""

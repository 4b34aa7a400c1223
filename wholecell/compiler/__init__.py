"""Model IR to JAX: the state layout, lowered programs, Jacobian colouring, the structure.

Owns the layout of states, parameters and compartments (`_layout`), sympy to JAX lowering
(`_lower`), the programs evaluated per step (`_program`), Jacobian sparsity and colouring
(`_jacobian`) and the compiled structure with `CompiledModel` and `compile` (`_compile`).
"""

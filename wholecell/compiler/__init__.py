"""Model IR to JAX: the state layout, lowered programs, Jacobian colouring, the structure.

Owns the layout of states, parameters and compartments (`_layout`), with delays and rateOf
rewritten into symbols the programs evaluate (`_rewrites`), sympy to JAX lowering
(`_lower`), the programs evaluated per step (`_program`), Jacobian sparsity and colouring
(`_jacobian`), the compiled `Structure` that solvers evaluate (`_structure`), the compiled
events (`_events`), the ring buffer of past steps that delays read (`_history`) and the
per-state absolute tolerances in the user's units that every solver applies
(`_tolerances`).
Imports only `wholecell.sbml` and the shared leaves (`_errors`).
"""

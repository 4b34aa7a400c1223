"""SBML in: libsbml import, MathML to sympy, the symbolic helpers, the Model IR.

Owns `load_sbml` (`_sbml_import`), the MathML converter (`_mathml`), the sympy function
vocabulary shared by every later stage (`_symbolic`), the Model IR dataclasses (`_model`),
the reduction of algebraic rules (`_algebraic`), the SBML ``distrib`` functions
(`_distrib`), generated test networks (`_generate`) and the formats in and out
(`_formats`: `wc.load` of SBML or Antimony, `to_sbml`, `to_antimony`, `write_sbml`).
Imports nothing else of wholecell but `wholecell._errors`.
"""

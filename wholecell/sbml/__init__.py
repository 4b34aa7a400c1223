"""SBML in: libsbml import, MathML to sympy, the symbolic helpers, the Model IR.

Owns `load_sbml` (`_sbml_import`), the MathML converter (`_mathml`), the sympy function
vocabulary shared by every later stage (`_symbolic`), the Model IR dataclasses (`_model`),
the reduction of algebraic rules (`_algebraic`), the SBML ``distrib`` functions
(`_distrib`), generated test networks (`_generate`) and the formats in and out
(`_formats`: loading SBML or Antimony, `to_sbml`, `to_antimony`, `write_sbml`; the
public `wc.load`, which also reads SED-ML and COMBINE archives, is `wholecell.sedml`'s).
Imports nothing else of wholecell but `wholecell._errors`.
"""

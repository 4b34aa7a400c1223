"""Stochastic simulation: SSA, tau-leaping and hybrid SSA/ODE ensembles.

Owns the direct-method SSA lanes (`_ssa`), tau-leaping (`_tau`), the hybrid
stochastic/deterministic partition (`_hybrid`) and the ensemble drivers behind
``wc.simulate(method="ssa" | "tau")`` (`_stochastic`).
"""

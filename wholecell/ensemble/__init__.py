"""Ensembles in lock step: many parameter sets advanced by one loop.

Owns the lock-step Tsit5 loop (`_lockstep`) and the predicate of when a batch can run in
lock step, the lock-step BDF loop with lanes (`_lockstep_bdf`; its coefficients and
table arithmetic are those of `wholecell.ode._bdf_tables`), the sparse LU both use for batched
Newton systems (`_sparselu`) and the dispatch from parameter rows to a loop
(`_members`).
"""

"""Ensembles in lock step: many parameter sets advanced by one loop.

Owns the lock-step Tsit5 loop (`_lockstep`), the lock-step BDF loop with lanes
(`_lockstep_bdf`) and the sparse LU both use for batched Newton systems (`_sparselu`).
"""

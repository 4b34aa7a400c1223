"""Side-by-side benchmarks of wholecell against peer simulators (libRoadRunner, GillesPy2).

Entry points: ``python -m benchmarks`` (= ``python benchmarks/run.py``) for the ODE tasks
of issue 6 and ``python benchmarks/ssa.py`` for the stochastic benchmark of issue 4. Both
write their tables into ``benchmarks/RESULTS.md``.
"""

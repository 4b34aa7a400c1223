"""Parameter fitting: ``wc.fit``, multi-start optimisation of a JAX objective (`_fit`).

PEtab problems (``wc.petab``) build such objectives; that package stays at
`wholecell.petab` so that ``python -m wholecell.petab`` keeps its name.
"""

from ._workers import local_workers as local_workers

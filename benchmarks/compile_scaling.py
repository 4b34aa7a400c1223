"""Compile-time scaling on generated mass-action networks (1,000 and 10,000 reactions).

Run: ``python benchmarks/compile_scaling.py`` — task (1) of ``python -m benchmarks`` on the
generated networks only (load, compile, first simulation with its JIT compile, against
libRoadRunner's load and first simulation); the table goes into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import main  # noqa: E402

if __name__ == "__main__":
    main(["--tasks", "compile", "--models", "ma1000,ma10000", *sys.argv[1:]])

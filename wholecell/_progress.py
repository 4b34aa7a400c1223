"""Progress bars through ``tqdm.auto``: a widget in Jupyter, a text bar on stderr in a
terminal. One helper, so every long loop (ensemble chunks, fit starts, division
generations, the test-suite runners) shows progress the same way."""

from __future__ import annotations

import sys


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True):
    """A ``tqdm`` bar of ``total`` steps (disabled: a bar that shows nothing). Use as a
    context manager, with ``update(n)`` and ``set_postfix_str(text)``.

    In Jupyter with ``ipywidgets`` installed it is a widget; without ``ipywidgets`` (and in
    a terminal) it is tqdm's text bar, without tqdm's warning about the missing widgets.
    """
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, leave=True)

"""The model library: ready-to-run models with their cards (the repository's ``models/``).

    wc.models.list()                      # the names
    model = wc.models.load("repressilator")
    meta = wc.models.info("repressilator")  # default times, species to plot, card, ...
    res = wc.simulate(model, meta.times()); res.plot(meta.plot)
"""

from ._library import ModelInfo as ModelInfo
from ._library import UnknownModelError as UnknownModelError
from ._library import info as info
from ._library import list as list
from ._library import load as load
from ._library import root as root

"""Array shapes used across the package, as jaxtyping aliases.

Axis names: ``states`` (the state vector), ``consts`` (time-constant values),
``params`` (parameters), ``reactions``, ``entries`` (stoichiometry entries, one per
species reference and reaction), ``members`` (a batch).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Array, Bool, Float, Int

#: a state vector
State = Float[Array, " states"]
#: the time-constant values (compartment sizes, constant parameters, ...)
Consts = Float[Array, " consts"]
#: a parameter vector
Params = Float[Array, " params"]
#: one value per stoichiometry entry, fixed at compile time
EntryInts = Int[np.ndarray, " entries"]
EntryFloats = Float[np.ndarray, " entries"]
EntryFlags = Bool[np.ndarray, " entries"]
#: reaction indices, state indices or positions in a program's outputs, fixed at compile time
Indices = Int[np.ndarray, " n"]
#: one flag per reaction
ReactionFlags = Bool[np.ndarray, " reactions"]
#: the dense stoichiometry matrix
Stoichiometry = Float[np.ndarray, "states reactions"]

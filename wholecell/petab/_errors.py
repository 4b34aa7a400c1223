"""Errors of the PEtab layer, under wholecell's hierarchy."""

from __future__ import annotations

from .._errors import WholecellError


class PetabError(WholecellError, ValueError):
    """The PEtab problem is unreadable or inconsistent (names the file, column or id)."""


class UnsupportedPetabError(PetabError):
    """The PEtab problem is valid but uses a feature wholecell does not support.

    Attributes:
        feature: the PEtab feature (e.g. ``"steady-state measurement (time = inf)"``).
    """

    def __init__(self, feature: str, detail: str = ""):
        self.feature = feature
        msg = f"unsupported PEtab feature: {feature}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)

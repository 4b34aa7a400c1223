"""The status of a solve or a trajectory: one enumeration, with what each value means.

Statuses are per trajectory (so one failure does not abort a batch) and travel through
JAX as plain integers: loops use ``Status.X.value``; `Stats.status` and
``res.stats["status"]`` hold these values.
"""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """What ended a trajectory."""

    SUCCESS = 0
    MAX_STEPS = 1
    DT_UNDERFLOW = 2
    NONFINITE = 3
    EVENT_OVERFLOW = 4
    #: a stochastic run: a propensity (or, hybrid, the state) went negative, NaN or infinite
    BAD_PROPENSITY = 5
    #: an explicit method chosen by ``solver="auto"`` kept its steps at its stability
    #: limit (the problem is stiff); the run is redone with a stiff method
    STIFF = 6
    #: a cell-cycle run: the division condition held; the run stopped at the division time
    DIVIDED = 10

    @property
    def message(self) -> str:
        return MESSAGES[self.value]


MESSAGES: dict[int, str] = {
    Status.SUCCESS.value: "success",
    Status.MAX_STEPS.value: "the maximum number of steps was reached",
    Status.DT_UNDERFLOW.value: (
        "the step size became too small (the problem may be stiff or singular)"
    ),
    Status.NONFINITE.value: "the state became non-finite (NaN or infinity)",
    Status.EVENT_OVERFLOW.value: (
        "too many events at one time point, or too many pending delayed events"
    ),
    Status.BAD_PROPENSITY.value: (
        "a propensity or the state became negative, NaN or infinite (a kinetic law that is "
        "not a valid propensity on amounts?)"
    ),
    Status.STIFF.value: (
        "the explicit method's steps were held at its stability limit (the problem is "
        "stiff): use a stiff method such as solver='bdf' or 'rodas5'"
    ),
    Status.DIVIDED.value: "the division condition held",
}


def message(code: int) -> str:
    """What status ``code`` means (the code itself when it is not a `Status`)."""
    return MESSAGES.get(int(code), str(code))

"""The error hierarchy: one base class, one subclass per stage of the pipeline."""

from __future__ import annotations


class WholecellError(Exception):
    """Base class of every error wholecell raises on purpose."""


class SBMLError(WholecellError, ValueError):
    """The SBML input is unreadable, invalid or inconsistent.

    The message lists each problem with its line number and the id of the element.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class UnsupportedSBMLError(SBMLError):
    """The SBML is valid, but uses a construct wholecell does not simulate.

    Attributes:
        construct: the SBML construct (e.g. ``"AlgebraicRule"``).
        element_id: the id of the element that uses it.
    """

    def __init__(self, construct: str, element_id: str | None, detail: str = ""):
        self.construct = construct
        self.element_id = element_id
        super().__init__(_unsupported("SBML", construct, element_id, detail))


class SedmlError(WholecellError, ValueError):
    """A SED-ML document or COMBINE archive is malformed, or refers to what it lacks."""


class UnsupportedSedmlError(SedmlError):
    """The SED-ML is valid, but asks for something wholecell does not do.

    Attributes:
        construct: the SED-ML construct (e.g. ``"repeatedTask"``).
        element_id: the id of the element that uses it.
    """

    def __init__(self, construct: str, element_id: str | None, detail: str = ""):
        self.construct = construct
        self.element_id = element_id
        super().__init__(_unsupported("SED-ML", construct, element_id, detail))


class SciMLError(WholecellError, ValueError):
    """A PEtab SciML network file or array file is malformed, or refers to what it lacks."""


class UnsupportedSciMLError(SciMLError):
    """The PEtab SciML network is valid, but uses a layer or operation wholecell lacks.

    Attributes:
        construct: the layer type or forward operation (e.g. ``"LSTM"``).
        element_id: the id of the layer or graph node that uses it.
    """

    def __init__(self, construct: str, element_id: str | None, detail: str = ""):
        self.construct = construct
        self.element_id = element_id
        super().__init__(_unsupported("PEtab SciML", construct, element_id, detail))


class CompileError(WholecellError, ValueError):
    """The model could not be compiled into JAX functions."""


class SimulationError(WholecellError, RuntimeError):
    """The solver failed: too many steps, a step size underflow or non-finite values.

    Attributes:
        time: the simulation time where the failure happened (``nan`` if unknown).
        variables: ids of the state variables that went non-finite, if any.
    """

    def __init__(self, message: str, time: float = float("nan"), variables: tuple = ()):
        self.time = time
        self.variables = tuple(variables)
        super().__init__(message)


class SBMLWarning(UserWarning):
    """The SBML file had something wholecell set aside because it changes no number
    (e.g. a units-only attribute that later SBML levels removed)."""


class ToleranceWarning(UserWarning):
    """A state stayed below its absolute tolerance over a run: its values are not
    accurate (give it a smaller ``atol``)."""


class OverdrawWarning(UserWarning):
    """A hybrid run drove a species amount below zero: stochastic firings, which read the
    ODE's species at mid-step, took molecules that the ODE used up in the same step.
    Values near that time are not exact (a shorter ``communication_step`` narrows the
    overlap)."""


def _unsupported(language: str, construct: str, element_id: str | None, detail: str) -> str:
    """``unsupported <language> construct: <construct> (element '<id>'): <detail>``."""
    where = f" (element '{element_id}')" if element_id else ""
    return f"unsupported {language} construct: {construct}{where}" + (
        f": {detail}" if detail else "")

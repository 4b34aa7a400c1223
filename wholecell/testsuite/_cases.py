"""Reading SBML Test Suite cases: settings, tags and expected results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: SBML files in order of preference (the highest Level/Version first)
_LEVELS = ("l3v2", "l3v1", "l2v5", "l2v4", "l2v3", "l2v2", "l2v1", "l1v2")


@dataclass
class Case:
    """One semantic test case."""

    number: int
    directory: Path
    sbml: Path
    test_type: str
    component_tags: tuple[str, ...]
    test_tags: tuple[str, ...]
    packages: tuple[str, ...]
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.component_tags + self.test_tags

    @property
    def variables(self) -> list[str]:
        return _list(self.settings.get("variables", ""))

    @property
    def amounts(self) -> set[str]:
        return set(_list(self.settings.get("amount", "")))

    @property
    def concentrations(self) -> set[str]:
        return set(_list(self.settings.get("concentration", "")))

    @property
    def absolute(self) -> float:
        return float(self.settings.get("absolute") or 0.0)

    @property
    def relative(self) -> float:
        return float(self.settings.get("relative") or 0.0)

    def times(self) -> np.ndarray:
        start = float(self.settings["start"])
        duration = float(self.settings["duration"])
        steps = int(float(self.settings["steps"]))
        return np.linspace(start, start + duration, steps + 1)

    def expected(self) -> tuple[list[str], np.ndarray]:
        """(column names, values) of the results file; NaN/INF as IEEE values."""
        path = self.directory / f"{self.directory.name}-results.csv"
        lines = path.read_text().strip().splitlines()
        header = [h.strip() for h in lines[0].split(",")]
        rows = [[_number(v) for v in line.split(",")] for line in lines[1:] if line.strip()]
        return header, np.array(rows, dtype=np.float64)


def _list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _number(text: str) -> float:
    t = text.strip().lower()
    if t in ("nan", "-nan"):
        return float("nan")
    if t in ("inf", "+inf", "infinity"):
        return float("inf")
    if t in ("-inf", "-infinity"):
        return float("-inf")
    return float(t)


def read_case(directory: Path) -> Case:
    """Read a case directory ``.../NNNNN``."""
    d = Path(directory)
    name = d.name
    sbml = None
    for lv in _LEVELS:
        p = d / f"{name}-sbml-{lv}.xml"
        if p.exists():
            sbml = p
            break
    if sbml is None:
        raise FileNotFoundError(f"no SBML file in {d}")
    header = {}
    text = (d / f"{name}-model.m").read_text(errors="replace")
    key = None
    for line in text.splitlines():
        if line.startswith("*)"):
            break
        if ":" in line and not line.startswith(" ") and line.split(":", 1)[0].isidentifier():
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif key == "synopsis" and line.strip():
            header[key] += " " + line.strip()
    settings = {}
    for line in (d / f"{name}-settings.txt").read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            settings[k.strip()] = v.strip()
    return Case(
        number=int(name),
        directory=d,
        sbml=sbml,
        test_type=header.get("testType", "TimeCourse"),
        component_tags=tuple(_list(header.get("componentTags", ""))),
        test_tags=tuple(_list(header.get("testTags", ""))),
        packages=tuple(_list(header.get("packagesPresent", ""))),
        settings=settings,
    )


def parse_ranges(spec: str | None, available: list[int]) -> list[int]:
    """Case numbers from ``"1-100,205,300-310"`` (all available if ``spec`` is None)."""
    if not spec:
        return sorted(available)
    wanted: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            wanted.update(range(int(a), int(b) + 1))
        else:
            wanted.add(int(part))
    have = set(available)
    return sorted(wanted & have)


@dataclass
class Outcome:
    """How one case went: its status, what differed, how long it took, its tags."""

    case: int
    status: str  # "pass", "fail", "unsupported", "error"
    detail: str
    seconds: float
    tags: tuple[str, ...]

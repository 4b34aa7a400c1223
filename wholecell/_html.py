"""Compact HTML tables for notebook display (``_repr_html_``)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def html_table(title: str, rows: Iterable[tuple[str, object]],
               preview: tuple[Sequence[str], Sequence[Sequence[object]]] | None = None) -> str:
    """A titled two-column table of ``rows`` (label, value), optionally followed by a
    small preview table (column names, rows). Values are escaped."""
    esc = lambda v: html.escape(str(v))  # noqa: E731
    out = [f"<div><strong>{esc(title)}</strong>",
           "<table style='text-align:left'>"]
    out += [f"<tr><th style='text-align:left'>{esc(k)}</th><td style='text-align:left'>"
            f"{esc(v)}</td></tr>" for k, v in rows]
    out.append("</table>")
    if preview is not None:
        cols, body = preview
        out.append("<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in body]
        out.append("</table>")
    out.append("</div>")
    return "\n".join(out)


def short_list(names: Sequence[str], limit: int = 8) -> str:
    """``a, b, c, … (n in all)`` for long lists."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", … ({len(names)} in all)"

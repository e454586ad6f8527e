"""Tables that never cut a number, in a terminal of any width or a log file.

Rich shrinks a table that is wider than the console by wrapping or cutting its cells
(``4,641,6…``).  :func:`print_table` decides the layout itself instead: every number
column is exactly as wide as its widest cell (never wrapped, never cut), headers wrap
between words, text columns (an architecture) wrap to the room that is left; when the
numbers and the longest header words do not fit the console's width, the table becomes
a plain key/value list, one block per row.  The width is the console's: the terminal's,
or 80 columns (``COLUMNS`` if set) when stdout is a file or a pipe.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

_TEXT_MIN = 16  # a text column narrower than this is not worth a table


def _need(header: str, cells: Sequence[str]) -> int:
    """The narrowest column that cuts neither a cell nor a word of the header."""
    return max([len(c) for c in cells] + [len(w) for w in header.split()] + [1])


def layout(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int, text: Sequence[int] = ()
) -> list[int] | None:
    """The column widths that fit ``width`` (rich's box: 3 characters per column plus 1),
    or None when the table must become key/value lines.  ``text``: indices of columns
    that may wrap (everything else is a number)."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(headers)
    widths = [_need(h, c) for h, c in zip(headers, cols, strict=True)]
    room = width - (3 * len(headers) + 1)
    fixed = sum(w for i, w in enumerate(widths) if i not in text)
    if not text:
        return widths if fixed <= room else None
    left = room - fixed
    longest = {i: max([len(c) for c in cols[i]] + [len(headers[i])]) for i in text}
    mins = {i: min(longest[i], max(_TEXT_MIN, _need(headers[i], ()))) for i in text}
    if left < sum(mins.values()):
        return None
    share = left // len(text)
    for i in text:
        widths[i] = max(mins[i], min(longest[i], share))
    return widths


def key_value_lines(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int = 80
) -> list[str]:
    """The fallback: the title, then each row's cells as ``header  value`` lines, or the
    value on a line of its own below its header when the two do not fit ``width``."""
    pad = max(len(h) for h in headers)
    longest = max((len(c) for row in rows for c in row), default=0)
    out = [title]
    for n, row in enumerate(rows):
        if len(rows) > 1:
            out.append(f"  row {n + 1}")
        for h, c in zip(headers, row, strict=True):
            out += [f"    {h.ljust(pad)}  {c}"] if 6 + pad + longest <= width else [f"    {h}", f"      {c}"]
    return out


def print_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    text: Sequence[int] = (),
    console: Any = None,
) -> None:
    """``rows`` of already formatted cells under ``headers`` on ``console`` (default stdout),
    as a rich table when it fits, else as key/value lines (module docstring)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    widths = layout(headers, rows, width=console.width, text=text)
    if widths is None:
        for line in key_value_lines(title, headers, rows, width=console.width):
            indent = " " * (len(line) - len(line.lstrip()))
            for part in textwrap.wrap(
                line,
                console.width,
                subsequent_indent=indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            ):
                console.print(Text(part), soft_wrap=True)  # words (numbers) are never broken
        return
    table = Table(title=Text(title))
    for i, (h, w) in enumerate(zip(headers, widths, strict=True)):
        table.add_column(Text(h), width=w, justify="left" if i in text else "right", overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    console.print(table)

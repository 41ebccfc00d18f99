"""Progress bars of the engines (tqdm).

``progress`` is True (always show), False (never) or ``'auto'`` (the estimators' default): the bar
appears only once a phase has run for :data:`AUTO_DELAY` seconds, so quick fits stay quiet and long
ones (in a notebook or a terminal) show what they are doing. Compilation is its own phase: the
first sweep of a new model shape is labelled "compiling".
"""

from __future__ import annotations

import sys

AUTO_DELAY = 3.0


def make_bar(total: int | None, desc: str, progress, unit: str = "it"):
    """A tqdm bar, or None when ``progress`` is False."""
    if progress is False or progress is None:
        return None
    from tqdm.auto import tqdm

    delay = AUTO_DELAY if progress == "auto" else 0.0
    return tqdm(total=total, desc=desc, unit=unit, delay=delay, leave=False, file=sys.stderr)


"""Pictures (optional extra ``jachess[plot]``): every function returns a matplotlib Figure.

Figures are built without pyplot (Agg canvas), so nothing opens a window or prints;
save with ``figure.savefig("file.png")``.
"""

from jachess.plot._landscape import landscape as landscape
from jachess.plot._path import path as path
from jachess.plot._spectrum import eigenvalue_convergence as eigenvalue_convergence
from jachess.plot._spectrum import spectrum as spectrum
from jachess.plot._spy import spy as spy
from jachess.plot._tornado import tornado as tornado

__all__ = ["eigenvalue_convergence", "landscape", "path", "spectrum", "spy", "tornado"]

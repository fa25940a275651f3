"""How a fit ended, one enum for every fitter and reader: the surface's optimiser (robust), the
transfer law (transfer), the report's cross-fits and fit.json's `status` keys (results)."""
from __future__ import annotations

from enum import StrEnum

__all__ = ["FitStatus"]


class FitStatus(StrEnum):
    """How a fit ended: the `status` of the scratch surface, of another form's cross-fit and of a law.
    Only `ok` carries numbers worth judging; the verdict (tasks/fitting/verdicts.py) then says
    whether they may be quoted."""

    OK = "ok"  # the surface converged (gradient ~0 at the best start), or the law was fitted
    GRADIENT_NOT_SMALL = "gradient_not_small"  # the surface's best start stopped where the gradient is not ~0
    NO_START_CONVERGED = "no_start_converged"  # every start failed or gave a non-finite objective
    TOO_FEW_POINTS = "too_few_points"  # a law with < 3 usable points, < 2 sizes or < 2 D_F values
    NOT_FITTED = "not_fitted"  # not attempted: a cross-fit with too few scratch points, a law nothing says was fitted

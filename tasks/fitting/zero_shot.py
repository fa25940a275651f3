"""What the pre-trained model is worth alone, and what fine-tuning on D_F added to it.

A zero-shot point is a pre-trained model's held-out target loss before any fine-tuning (D_F = 0);
its D_E, read off the same scratch curve as the fine-tunes', is what pre-training alone is worth.
A fine-tune's D_E minus its model's zero-shot D_E is what the D_F tokens added. A fine-tune that
did not move the loss beyond noise of the zero-shot loss, or whose best step came before one pass
over D_F (a bigger D_F would have given the same loss), measured the pre-trained model, not D_F:
such points are marked, and a law fitted only on them is not a law of D_F (verdicts.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# sd of ln(best loss) between seeds of a fine-tune, used where the runs have no replicates: the
# planner's default (0.39 %), near the replicated demo's measured 0.23 % pooled over 11 points.
FINETUNE_SIGMA_DEFAULT = 0.0039
# A fine-tune within this many sigma of its zero-shot ln loss is indistinguishable from it (two
# sigma: a seed-to-seed difference this large happens about 1 time in 20).
NOISE_SIGMAS = 2.0
# A fine-tune whose best step saw at most this many passes over D_F was limited by its steps, not
# by D_F: every larger D_F would have reached the same loss at that step. One whose best step is its
# first learnt only what one step can teach (the v2 demo's batch was 1.4-14 epochs of D_F <= 3e3).
FIRST_EPOCH = 1.0
FIRST_STEP = 1


@dataclass(frozen=True)
class ZeroShotTable:
    """One entry per (size, source): the pre-trained models' own held-out loss (replicates averaged
    in log space)."""

    n: np.ndarray
    source: np.ndarray
    loss: np.ndarray

    def loss_of(self, n: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The zero-shot loss of each (n, source) pair; NaN where none was measured."""
        out = np.full(len(n), np.nan)
        for size, src, loss in zip(self.n, self.source, self.loss):
            out[(np.asarray(n) == size) & (np.asarray(source) == src)] = loss
        return out


def zero_shot_table(n: np.ndarray, source: np.ndarray, loss: np.ndarray) -> ZeroShotTable:
    """Average the zero-shot runs of each (size, source) (seeds of the pre-training) in log space."""
    n, source, ln = np.asarray(n, float), np.asarray(source, str), np.log(np.asarray(loss, float))
    keys = sorted(set(zip(n.tolist(), source.tolist())))
    mean = [float(np.exp(ln[(n == k) & (source == s)].mean())) for k, s in keys]
    return ZeroShotTable(np.array([k for k, _ in keys], float), np.array([s for _, s in keys], str),
                         np.array(mean, float))


@dataclass(frozen=True)
class Marks:
    """Per fine-tuned point: how far it moved from its zero-shot loss, and whether that says
    anything about D_F."""

    gain_log: np.ndarray  # ln L(zero-shot) - ln L(fine-tuned); NaN where no zero-shot run
    tolerance_log: np.ndarray  # NOISE_SIGMAS x the noise sigma of the point
    at_zero_shot: np.ndarray  # gain within the tolerance (or negative): fine-tuning added nothing seen
    first_epoch: np.ndarray  # best step within the first pass over D_F, or the very first step
    sigma_from: str  # "replicates" or "default"

    @property
    def uninformative(self) -> np.ndarray:
        return self.at_zero_shot | self.first_epoch


def mark_finetunes(n: np.ndarray, source: np.ndarray, loss: np.ndarray, best_epoch: np.ndarray | None,
                   zero_shot: ZeroShotTable | None, sigma: np.ndarray | None = None,
                   best_step: np.ndarray | None = None) -> Marks:
    """Marks of the fine-tuned points (n, source, loss); `sigma`: each point's measured sd of
    ln loss (None: FINETUNE_SIGMA_DEFAULT for all); `best_epoch`, `best_step` None: not known,
    never marked on that count."""
    n, loss = np.asarray(n, float), np.asarray(loss, float)
    sig = np.full(len(n), FINETUNE_SIGMA_DEFAULT) if sigma is None else np.asarray(sigma, float)
    tol = NOISE_SIGMAS * sig
    zs = np.full(len(n), np.nan) if zero_shot is None else zero_shot.loss_of(n, source)
    gain = np.log(zs) - np.log(loss)
    at_zs = np.isfinite(gain) & (gain <= tol)
    epoch = np.zeros(len(n), bool)
    for values, limit in ((best_epoch, FIRST_EPOCH), (best_step, FIRST_STEP)):
        if values is not None:
            epoch |= np.nan_to_num(np.asarray(values, float), nan=np.inf) <= limit
    return Marks(gain, tol, at_zs, epoch, "default" if sigma is None else "replicates")


def added_by_finetuning(d_e: np.ndarray, d_e_zero_shot: np.ndarray) -> np.ndarray:
    """D_E(D_F) - D_E(0) per fine-tuned point: the target tokens the D_F tokens were worth on top
    of the pre-trained model (NaN where either side is not finite)."""
    with np.errstate(invalid="ignore"):  # inf - inf: a loss below every scratch run's, on both sides
        out = np.asarray(d_e, float) - np.asarray(d_e_zero_shot, float)
    return np.where(np.isfinite(out), out, np.nan)


def median_over_sizes(values: np.ndarray, mask: np.ndarray) -> float:
    """The median of the finite values selected by mask, NaN when there are none."""
    v = np.asarray(values, float)[mask]
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")

"""Re-anchoring a soft sensor on a batch's own earlier assays (adaptive bias update).

A soft sensor maps online signals to an assay; what the signals cannot show (a batch's own
specific productivity, a lot of medium) stays as a per-batch error. Each assay that comes
back from the lab measures that error, so the predictions after it can be corrected: the
recursive bias update of industrial soft sensors (Kadlec, Grbic & Gabrys 2011, Comput Chem
Eng 35:1, doi:10.1016/j.compchemeng.2010.07.034, sec. 4), here with exponential forgetting
over the batch's assays and two forms:

- ``offset``: ``y = prediction + b``, ``b`` the weighted mean of the earlier residuals;
- ``ratio``: ``y = c * prediction``, ``c`` the weighted least-squares slope through the origin
  of the earlier assays on their predictions (a batch 20 % more productive than the
  training batches has a titre 20 % above the prediction at every time).

Only assays strictly before a row correct it (causal).
"""

from __future__ import annotations

import numpy as np

#: Forms of the update, and forgetting factors (weight of an assay per later assay).
MODES = ("none", "offset", "ratio")
FORGET = (0.5, 0.8, 1.0)


def corrections(n_assays: int, y: np.ndarray, p: np.ndarray, mode: str, forget: float) -> tuple[np.ndarray, np.ndarray]:
    """Offset and scale after each number of assays seen, ``k = 0 .. n_assays``.

    Parameters
    ----------
    n_assays : int
    y, p : ndarray, shape (n_assays,)
        The batch's assays and the model's predictions at their rows, in time order.
    mode : str
        ``none``, ``offset`` or ``ratio``.
    forget : float
        Weight of an assay relative to the next one, ``0 < forget <= 1``.

    Returns
    -------
    offset, scale : ndarray, shape (n_assays + 1,)
        After ``k`` assays a prediction ``q`` becomes ``scale[k] * q + offset[k]``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown update mode {mode!r}; expected one of {MODES}")
    offset, scale = np.zeros(n_assays + 1), np.ones(n_assays + 1)
    if mode == "none" or n_assays == 0:
        return offset, scale
    sw = swe = swyp = swpp = 0.0
    for k in range(n_assays):
        sw, swe = forget * sw + 1.0, forget * swe + (y[k] - p[k])
        swyp, swpp = forget * swyp + y[k] * p[k], forget * swpp + p[k] * p[k]
        if mode == "offset":
            offset[k + 1] = swe / sw
        elif swpp > 0:
            scale[k + 1] = swyp / swpp
    return offset, scale


def apply(t_rows: np.ndarray, values: list[np.ndarray], t_assay: np.ndarray, y: np.ndarray, p: np.ndarray,
          mode: str, forget: float) -> list[np.ndarray]:
    """Each row's values corrected by the assays strictly before it.

    Parameters
    ----------
    t_rows : ndarray, shape (n_rows,)
        Times of the rows [h].
    values : list of ndarray, each shape (n_rows,)
        Prediction and interval bounds to correct alike.
    t_assay, y, p : ndarray, shape (n_assays,)
        Times [h], assays and the model's predictions at them, in time order.

    Returns
    -------
    list of ndarray
    """
    offset, scale = corrections(len(y), y, p, mode, forget)
    k = np.searchsorted(np.asarray(t_assay, float), np.asarray(t_rows, float), side="left")  # assays before
    return [scale[k] * v + offset[k] for v in values]


def choose(batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float | str]:
    """The form and forgetting factor with the smallest RMSE on out-of-fold predictions.

    Parameters
    ----------
    batches : list of (y, p)
        Per training batch, its assays and out-of-fold predictions in time order.

    Returns
    -------
    dict
        ``mode``, ``forget``, ``rmse`` (with the update) and ``rmse_none`` (without), each
        assay predicted from the earlier assays of its batch only.
    """
    def rmse(mode: str, forget: float) -> float:
        err = []
        for y, p in batches:
            off, sc = corrections(len(y), y, p, mode, forget)
            err.append(sc[:-1] * p + off[:-1] - y)  # assay k corrected by assays 0..k-1
        e = np.concatenate(err) if err else np.zeros(0)
        return float(np.sqrt(np.mean(e**2))) if e.size else float("nan")

    none = rmse("none", 1.0)
    mode_best, forget_best, r_best = "none", 1.0, none
    for mode in MODES[1:]:
        for f in FORGET:
            r = rmse(mode, f)
            if r < r_best:
                mode_best, forget_best, r_best = mode, f, r
    return {"mode": mode_best, "forget": forget_best, "rmse": r_best, "rmse_none": none}

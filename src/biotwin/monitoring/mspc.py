"""Online batch monitoring for any process: MPCA with T2 and SPE, plus analytical redundancy.

:class:`BatchMonitor` charts each new observation as it arrives, against a reference model of
normal batches (:mod:`biotwin.monitoring.reference`: trajectories, PCA, redundancy regressions),
by several detector families (:data:`FAMILIES`) and by parity checks between columns that
measure the same quantity (:mod:`biotwin.monitoring.parity`).

Limits are estimated out of fold, folds grouped by batch, for the models and for the
limits themselves: the observation-level 99 % quantile of each statistic along culture time,
then per chart a factor so that the persistence rule (``persistence`` consecutive points over
the limit) alarms on at most ``batch_alpha`` of new normal batches, all charts together
(:mod:`biotwin.monitoring.limits`; see :class:`BatchMonitor`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import maximum_filter1d
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold

from biotwin.batchdata.align import regrid, sampling_interval, warn_if_coarser
from biotwin.batchdata.gaps import bridge, dense_columns, find_gaps, gap_rows
from biotwin.batchdata.io import TIME, BatchSet, _as_frames, id_ranks, input_columns, warn_unknown
from biotwin.batchdata.spectra import SpectrumCompressor
from biotwin.errors import DataError
from biotwin.monitoring.limits import batch_factor, loo_margin, tv_limit, tv_limit_sided
from biotwin.monitoring.parity import batch_offsets, find_pairs, pair_diff, within_sd
from biotwin.monitoring.reference import REFERENCE_BATCHES, ReferenceModel, agreed, base_variable, smallest
from biotwin.monitoring.stats import (
    cusum,
    ewma,
    recentre,
    rolling_diff_sd,
    running_min,
    self_starting,
    spe_contributions,
    t2_contributions,
    trend_innovation,
)
from biotwin.softsensors.features import check_features, engineer

#: Detector families: (alarm kind, statistic name, trajectory column prefix).
FAMILIES: dict[str, tuple[str, str, str]] = {
    "T2": ("process", "T2", "T2"),
    "SPE": ("process", "SPE", "SPE"),
    "value": ("process", "value", "value"),
    "residual": ("sensor", "residual", "residual"),
    "cusum": ("sensor", "cusum", "cusum"),
    "rate": ("process", "rate-cusum", "rate-cusum"),
    "response": ("sensor", "response", "response"),
    "trend": ("process", "trend", "trend"),
    "level": ("process", "level", "level"),
    "nonlinear": ("sensor", "nonlinear-residual", "nonlinear"),
    "mpls": ("process", "MPLS-T2", "MPLS-T2"),
}
#: Families whose chart is a signed deviation (limits on its size, runs on one side).
SIGNED = ("value", "trend", "level")


#: Above this many variables the ``nonlinear`` family charts none (its trees cost as the square of their number).
NONLINEAR_MAX_VARIABLES = 60
#: Below this many training batches :meth:`BatchMonitor.fit` warns that its false-alarm rate is uncertain.
FEW_BATCHES = 20
#: A vector family's chart of a variable whose out-of-fold inputs have a root mean square below this
#: (in the inputs' units) holds rounding noise only and is switched off (see :meth:`BatchMonitor.fit`).
ROUNDING = 1e-8
#: The false-alarm budget whose share the factor margins are checked at, at least (see :meth:`BatchMonitor._factors`).
MARGIN_BATCH_ALPHA = 0.03


class BatchMonitor(BaseEstimator):
    """Golden-batch MSPC monitor for batches of any process.

    Ten detector families (eight on by default, see ``detectors``), each with limits learned out
    of fold on the normal batches:

    ``T2``, ``SPE``
        Hotelling T2 and SPE of the observation-level PCA (kind ``process``).
    ``value``
        Each variable's own standardised deviation from the reference trajectory, a
        Shewhart chart per variable (Shewhart 1931, Economic Control of Quality of
        Manufactured Product, Van Nostrand; kind ``process``): a tightly controlled variable
        that leaves its band for an hour (a pH dip when a pump fails) is plain here, while in
        SPE it is one square among many features whose normal batches wander.
    ``residual``
        EWMA of each variable's redundancy residual (the variable minus what the other
        variables, their rates and their running integrals imply; kind ``sensor``).
    ``cusum``
        Two-sided CUSUM (Page 1954) of the same residuals after removing their own trailing
        ``cusum_window_h`` mean, so it accumulates changes, not a batch's offset (``sensor``).
    ``rate``
        Two-sided CUSUM of each variable's standardised rate, recentred the same way: abrupt
        process changes (kind ``process``, statistic ``rate-cusum``).
    ``response``
        One-sided EWMA of the fall of each variable's point-to-point activity (standard
        deviation of its first differences over ``response_window_h``) below the reference:
        a sensor whose response slows (kind ``sensor``, statistic ``response``).
    ``trend``
        Each variable's mean over the last ``trend_recent_h`` minus the forecast of a straight
        line fitted to its own previous ``trend_window_h``
        (:func:`~biotwin.monitoring.stats.trend_innovation`), a chart per variable (kind
        ``process``, statistic ``trend``). It needs no reference trajectory, so a batch's own
        level and slope cancel: a contaminant whose O2 uptake doubles every 40 min bends the
        off-gas O2 trend while the level is still inside the normal batches' spread. Its
        time-varying limits use a fine grid (steps of ``trend_limit_h / 2``, windows of
        +-``trend_limit_h``, then the largest within +-``trend_tolerance_h``), because the
        normal bends come at recipe times (a bolus feed) and a coarse window would smear them
        over the hours around. On the virtual plant (signals every 6 min) it cuts the median
        contamination delay from 3.1 to 1.3 h (campaign seed 0; 2.8 to 2.1 h on seed 1, 2.9
        to 2.2 h on seed 2) without adding a false alarm: 0 of 10 normal test batches on each
        seed with and without it, 0, 3 and 1 of 27 faulty batches before their onset (the same
        without it; ``bench/results/monitoring_plant*.json``, ``no_trend`` the monitor without
        it). On the earlier 30-min campaign it took the delay from 3.6 to 1.6 h on seed 0.
    ``level``
        EWMA (time constant ``level_window_h``) of each variable's deviation from a robust
        reference, the median of the training batches at that time in their scaled median
        absolute deviation (Hampel 1974), a chart per variable (kind ``process``, statistic
        ``level``): a slow drift that stays inside the band a variable's own excursions set
        (Lucas & Saccucci 1990, Technometrics 32:1, doi:10.1080/00401706.1990.10484583, for the
        EWMA's sensitivity to small persistent shifts). The median and MAD are not pulled by the
        few batches far off at some time, and with ``sided`` a lopsided variable is charted per
        side. On PenSimPy (IndPenSim) it finds both 0.1-pH sensor drifts (at 122-124 h; the ramp
        runs from 40 to 160 h), which no other family saw.
    ``nonlinear``
        EWMA of the residual each variable's gradient-boosted trees (on the other variables'
        features and time, :meth:`ReferenceModel._boosted`) and its linear redundancy regression agree on
        (:func:`agreed`: the smaller where both err the same way, else 0; kind ``sensor``,
        statistic ``nonlinear-residual``). A relation with a kink (a temperature that rises once
        the coolant is at its limit) leaves a normal batch a linear residual as large as a
        drifting sensor's; a tree's step at a recipe event (a volume at a feed bolus) is no
        evidence where the linear balance holds. A variable is charted only where, on the
        first fold's held-out batches, the trees' residual is at most ``nonlinear_gain`` times
        the linear one (``nonlinear_gain_``, ``nonlinear_keep_``); the other folds and the final
        model fit trees for those variables only, and the other variables take no share of the
        false-alarm budget. Above :data:`NONLINEAR_MAX_VARIABLES` variables none is charted
        (a spectrum kept uncompressed). On PenSimPy (IndPenSim) 6 of 21 variables are charted
        and one of the two 0.4-K temperature sensor drifts is found, which no other family
        saw (13 of 14 faulty batches, 1 of 10 normal batches alarmed, as before); on the
        virtual plant every result is unchanged on six campaign seeds.

    One false-alarm budget, calibrated honestly: the models (reference trajectories, PCA,
    redundancy regressions) are fitted per fold and score the held-out batches; the
    time-varying limits that judge a held-out batch are estimated from the *other* folds'
    statistics too, so each training batch's worst excursion is measured as a new batch's
    would be. Every chart (T2, SPE, and each variable of each vector family) then gets
    ``batch_alpha / n_charts`` (Bonferroni) and a factor on its limit: the ``1 - share``
    quantile of a Gumbel law fitted to its out-of-fold batch maxima (Gumbel 1958; Coles 2001,
    An Introduction to Statistical Modeling of Extreme Values, Springer,
    doi:10.1007/978-1-4471-3675-0, ch. 3), never below the largest of them. Fitting the
    limits on the same statistics whose maxima set the factor (the earlier scheme) sat the
    limits on the training batches' own excursions and let 5 of 10 normal test batches of
    the virtual-plant campaign alarm; with the scheme above 1 of 10 did.

    Parameters
    ----------
    exclude : sequence of str
        Columns never used (offline assays, quality attributes).
    n_components : float
        Fraction of variance the PCA keeps (or an int number of components).
    n_grid : int
        Points of the control limits' time grid.
    reference_points : int
        Points of the reference trajectories' time grid (mean, spread, median of the training
        batches). Between points a reference is linear, so a recipe step (a set point changed
        at 40 h in every batch) is blended over one grid step: with 100 points 2.3 h apart, a
        normal batch deviated from its own recipe there, the limits widened to cover it, and
        how much depended on where the step fell between points. On PenSimPy with every batch's
        clock shifted by 0, -0.1, -0.2 and +0.1 h, 100 points found 13, 11, 11 and 13 of 14
        faulty batches (median delay 0.6, 2.3, 2.3, 0.4 h); 1000 points 14, 14, 13 and 14 (0.2 h
        at every shift), with 1 of 10 normal test batches alarmed at each (``docs/monitoring.md``).
        The spreads are averaged over the same share of the batch whatever the number of points
        (``reference.SPREAD_WINDOW``).
    persistence : int
        Consecutive observations over a limit before an alarm.
    same_side : bool
        For the signed charts (``value``, ``trend``, ``level``), the consecutive observations must lie on
        one side of the reference (the run rules of the Western Electric handbook, 1956): a
        reading far low and the next far high is noise, not a shift. The limits are calibrated
        under the same rule. On the virtual plant logged every 6 min a normal batch's
        feed-balance reading 399.94 then 400.06 mL (3 sd either side) had alarmed.
    obs_alpha : float
        Observation-level quantile of the out-of-fold statistics that sets each limit.
    batch_alpha : float
        Target fraction of normal batches with a false alarm, all families together. The
        default, 0.015, with the factor margins checked at the share of 0.03
        (``MARGIN_BATCH_ALPHA``): on PenSimPy over four fold partitions 12 instead of 18 of 160
        normal batches alarmed, the same 54 of 56 faulty batches found (docs/monitoring.md).
        0.03 (the default until the sixteenth session) sits below the 1-in-10 a plant tolerates
        because the per-chart tails, each fitted to some 30 out-of-fold maxima, understate the
        union of 100-odd charts: at 0.05 the virtual plant raised 1 of 10 normal and 4 of 24 faulty batches before onset
        (campaign seed 1) and the Monod generator 2 of 50; at 0.03, 1, 2 and 0, with the same
        detection delays (before the per-chart persistence fix in :meth:`score`, which brought
        the plant's normal batches to 0 of 10; ``bench/results/monitoring_plant_seed1.json``,
        ``bench/results/monitoring_generality.json``).
    ewma_lambda : float
        Smoothing of the redundancy residuals (and of the response indicator).
    rate_window_h : float
        Window of the rate features [h].
    cv : int
        Folds, grouped by batch.
    ridge : float
        Ridge penalty of the redundancy regressions (relative to the number of rows). Small
        (1e-4), so that a near-exact relation (a totaliser and the balance that weighs the
        same liquid) keeps its weight instead of being spread over correlated regressors.
    redundancy_scale : {"pooled", "local"}
        Units of the redundancy regressions. ``pooled`` (default): each feature's deviation
        from its reference trajectory divided by one spread per feature for the whole batch,
        so a physical law that is linear in the variables (a mass balance: delivered =
        commanded) has the same coefficients at every culture time; ``local``: divided by the
        spread at that time (as T2/SPE), which rescales a fixed law differently at each time.
    phases : int
        Redundancy regressions per phase of the batch (stage-based models, Lu, Gao & Wang 2004,
        AIChE J 50:255, doi:10.1002/aic.10024): the reference duration is split into
        ``phases`` equal parts, each fitted on its rows plus a quarter part either side.
    outlier_ratio : float
        Training batches whose out-of-fold worst ratio (largest over the families) exceeds
        ``outlier_ratio`` times the median batch's are atypical: reported in
        ``atypical_batches_`` and left out of the limits' factors.
    clean_reference : bool
        Also take the atypical batches out of the reference set and fit again, once (phase I
        of MSPC, :meth:`_refit_without_atypical`); ``reference_batches_`` then lists the
        batches the model is built on. Opt-in, because it helps where the atypical batches are
        far off and hurts where they are only the tail of normal operation. On PenSimPy
        (IndPenSim, 5 of 30 atypical at the first fit: pH down to 5.2-5.8, the temperature 3-5 K over set point)
        it found 13 of 14 faulty batches instead of 10, the two temperature sensor drifts and one
        pH drift among them, with the same 2 of 10 normal batches alarming (both ran further off
        than some faults). On the virtual plant (1-2 of 30 atypical on seeds 2-5) it raised the
        normal batches with an alarm from 0 to 3 of 10 on seed 5 and the contamination delay
        from 1.73 to 2.32 h on seed 3. Those numbers predate the ``level`` family and ``sided``
        limits; with them (the defaults now) the plain monitor finds 12 of 14 PenSimPy faulty
        batches with 1 of 10 normal batches alarming, and this option 11 of 14 with 3 of 10.
    sided : sequence of str
        Signed families (``value``, ``trend``, ``level``) whose lopsided variables get a limit
        and a chart per side (:meth:`_sided_masks`, :func:`tv_limit_sided`), each with its own
        extreme-value factor and Bonferroni share. A variable held by a controller that saturates
        one way (a pH that falls when the base pump is at its maximum) has a long tail on one
        side and a tight band on the other; one limit on the size sets both at the tail's width.
        Default ``("value", "level")``. On PenSimPy it took the normal test batches with an alarm
        from 2 to 1 of 10 (``value``: test 000's pH trend alarm at 120.8 h went) and, with
        ``level``, the faulty batches found from 10 to 12 of 14. On the virtual plant no
        variable is lopsided enough (the largest ratio 3.4, DO on seed 4), and the ``level``
        charts' Bonferroni shares cost some delay: contamination 2.22 -> 2.32 h (seed 2) and
        1.73 -> 1.82 h (seed 3), the CO2 build-up 0.55 -> 0.65 h (seed 0), with the same false
        alarms and detections over seeds 0-5. On the E. coli stand-in the phage lysis and the
        pO2 drift came 0.25 h later (6.73 and 6.43 h; 6.98 and 6.22 h with the shared reference
        grid of :meth:`fit`), all else equal; on the synthetic Monod
        generator one of 20 normal batches alarmed on its OUR level (ratio 1.02; 0 before).
    sided_ratio : float
        A variable is lopsided when the ``1 - obs_alpha`` quantile of its out-of-fold excursions
        on one side is at least ``sided_ratio`` times the other side's. On PenSimPy the pH's
        value ratio is 27, the acid and coolant flows' 4.5; on the virtual plant none reaches
        3.5. Charting every variable per side doubles the charts that share the budget: with
        every ``value`` chart per side the plant's feed balance alarmed 2 of 10 normal batches
        (seed 4).
    level_window_h : float
        Time constant of the ``level`` EWMA [h]. 16 and 24 h raised a level alarm on one normal
        PenSimPy batch (its off-gas O2 ran at a level of its own), and found one pH drift later.
    nonlinear_gain : float
        The ``nonlinear`` family charts a variable whose trees' out-of-fold residual (root mean
        square, first fold) is at most this fraction of its linear redundancy residual's. Without
        this choice (every variable charted) its budget shares took the PenSimPy pH drifts from
        122-124 to 144 h, and its trees cost every fold a fit per variable.
    cv_repeats : int
        Partitions of the training batches into folds (the first as listed, the others shuffled
        with fixed seeds). Each batch's worst out-of-fold ratio, from which the factors come, is
        the mean over them; every partition refits the models, so the fit takes this many times
        as long. The PenSimPy result moves with the fold split: over four orders of the training
        batches, one partition found 11-14 of 14 faulty batches (13, 14, 12, 11) and three found
        13-14 (13, 14, 14, 14), with 1, 3, 1 and 1 of 10 normal batches alarmed either way. Opt-in
        until measured on the other stand-ins (docs/monitoring.md).
    equipment : sequence of str
        Equipment health indicators, each ``PATTERN``, ``PATTERN>FAIL`` (fails rising to FAIL)
        or ``PATTERN<FAIL`` (fails falling to FAIL); PATTERN is a case-insensitive regular
        expression on column names (``vibration``, ``pump.*ratio``). Each matching column gets a
        :class:`~biotwin.monitoring.equipment.DegradationMonitor` with its healthy baseline and
        alarm level learned from the training batches; its alarms have kind ``equipment`` and
        carry the remaining useful life ``rul_h`` when a failure level is given.
        ``loop:MEASURED/ACTUATOR`` (``loop:DO/agitation``) watches a control loop's sensor:
        the activity ratio of the first columns matching the two patterns
        (:func:`~biotwin.monitoring.equipment.loop_activity_ratio`) against a lower limit from
        the training batches' minima (one chart's Bonferroni share, the charts' extreme-value
        factor); it alarms (kind ``equipment``, contributions ``{MEASURED: ratio to the limit}``,
        ``rul_h`` None) when the ratio stays below for ``persistence`` points. A fouling DO
        membrane on the 6-min virtual plant: 18 of 18 found 28-50 h before failure, no normal
        batch alarmed (``bench/results/monitoring_plant*.json``).
    integrals : bool
        Give the redundancy regressions the running integrals ``cum(v)`` of the other variables.
    detectors : sequence of str
        Families in use (keys of :data:`FAMILIES`). Default: ``T2``, ``SPE``, ``value``,
        ``residual``, ``cusum``, ``trend``, ``level``, ``nonlinear`` (whose choice of variables
        needs ``residual``; without it every variable is charted). ``mpls`` (the batch evolution
        model, :meth:`~biotwin.monitoring.reference.ReferenceModel.evolution`) is opt-in. ``rate``
        and ``response`` are opt-in: on the synthetic
        generators (``bench/_monitor_synthetic_eval.py``, results in
        ``bench/results/monitoring_synthetic.json``) they raised most false alarms on normal
        batches (rate-CUSUM 4 of 7 on pichia and bacillus, response 1, plus a response alarm in
        the first hour from its start-up window) and first detected none of the faults.
    cusum_k : float
        CUSUM reference value [standard deviations]: half the shift to detect.
    cusum_window_h : float
        Trailing window whose mean the CUSUM inputs are recentred on [h].
    response_window_h : float
        Window of the response-time indicator [h].
    time_tolerance : float
        Multiplier on the learned time-shift window (0 judges each observation at its own
        culture time). Above 0, each reference time gets a window from the shifts that penalised
        DTW finds between the training batches and the mean trajectory (90 % quantile), and each
        observation is judged by its best match within it (:meth:`ReferenceModel.shifted_times`).
        Default 1 since the eighteenth session (0 before): where batches switch phase at times of
        their own (an induction at a target cell density), one training batch induced earlier
        than the others set one factor for its whole chart, and the limit hid a later fault for
        hours. E. coli stand-in, seed sets 1/2/3, 4/5/6, 7/8/9: median delay over the process
        faults 0.82 -> 0.71, 1.43 -> 0.92, 1.92 -> 1.06 h, 18, 17, 17 -> 18, 17, 18 found, 0 of
        10 normal test batches alarmed in each, 0/0/2 -> 2/0/2 of 40 extra. Where the batches
        follow one recipe clock the window learned is 0 and nothing changes (PenSimPy over four
        fold partitions and the virtual plant: every result identical). Monod generator 0 -> 1
        of 50 normal batches alarmed, Pichia's contamination 3.69 -> 3.15 h (docs/monitoring.md).
        Monitors saved before it keep 0.
    clock_tolerance_h : float
        How far [h] a batch's clock may be off the training batches' (a start logged some
        minutes early or late). Above 0, each training batch is also judged out of fold with
        its culture time shifted by this much either way; each batch's worst ratio is its
        worst copy's, and each chart's factor is the larger of those with and without the
        copies, so the limits only widen (the time-varying limits stay the batches'). Training
        batches that follow a recipe to the minute (simulated ones) show no timing spread at
        its set-point steps, and a normal batch whose clock is off by half a sampling interval
        then alarms at a step. Opt-in (0).
    mpls_components : int
        Latent variables of the ``mpls`` family's observation-level PLS on culture time.
    factor_margin : float or "auto"
        Each chart's factor is at least this multiple of the largest out-of-fold batch maximum
        of the typical training batches (:func:`~biotwin.monitoring.limits.batch_factor`).
        ``"auto"`` (default): per family, the smallest margin under which no training batch,
        left out, exceeds the factor the other batches give its charts
        (:func:`~biotwin.monitoring.limits.loo_margin`; ``factor_margins_``). The extreme-value
        law fitted to some 30 maxima is overconfident where they cluster: left out one batch at
        a time, the laws fitted to the other batches' maxima put 5-8 times too many of the
        left-out maxima beyond their 1e-3 quantile, and 23-26 times too many beyond their 1e-4
        quantile (pooled over every chart; PenSimPy and the virtual plant, seed 1), where a
        chart's share of the budget is some 2e-4. Measured in docs/monitoring.md.
    n_shifts : int
        Candidate shifts on each side within the window.
    spectra : bool
        Replace each block of spectral channels (50 or more columns named by a number, e.g. a
        Raman spectrum's wavenumbers; :func:`~biotwin.batchdata.spectra.spectral_blocks`) by
        its leading principal component scores and its reconstruction SPE
        (:class:`~biotwin.batchdata.spectra.SpectrumCompressor`, fitted on the training
        batches) before anything else: the charts then see a spectrum as a few variables
        (``<block> PC1``, ..., ``<block> SPE``) instead of thousands.
    trend_window_h, trend_recent_h : float
        Windows of the ``trend`` family [h]: the trailing trend and the recent mean compared with
        its forecast; widened at fit to four and one sampling intervals of the training batches.
    trend_limit_h : float
        Half-width of the time window of the ``trend`` limits [h] (at least one sampling interval).
    trend_tolerance_h : float
        Each ``trend`` limit is the largest within +-``trend_tolerance_h`` [h] of its time
        (rounded to the fine grid): a recipe step a little earlier than in any training batch
        is not an alarm. Measured on the Pichia generator (induction at 22-29 h): with 0, two
        normal batches whose induction came 0.4-0.7 h earlier than in any training batch
        alarmed on the temperature step (and one faulty batch, before its onset); with 0.5,
        none did. On the virtual plant 0.5 keeps the contamination delays of 0, while 1.0 let
        a bolus feed's bend mask a contamination that began 3.5 h before the feed (delay 1.6
        -> 3.6 h). It holds for 30 training batches (``REFERENCE_BATCHES``) and widens as
        ``30 / n_batches`` for fewer (``trend_tolerance_``): with 15 Pichia training batches
        7 of 50 normal batches alarmed at 0.5 h, 1 of 50 at 1.0 h; with 10, 8 and 3 of 50
        at 0.5 and 1.5 h.
    budget : {"chart", "split", "joint"}
        ``chart`` (default): ``batch_alpha`` split evenly over every chart, each with its own
        factor; ``split``: split over the families, one factor per family (a variable whose
        normal batches wander then widens the limits of all variables of its family);
        ``joint``: one factor on the largest ratio of all families.
    pairs : bool
        Pair (parity) checks, on by default: each pair of columns that measure the same
        quantity (:func:`find_pairs`; an online pH probe and its at-line samples, a pump
        totaliser and its balance) gets a chart of their difference on the rows where the
        sparser column was measured, standardised by its training mean and sd (Chow & Willsky
        1984, doi:10.1109/TAC.1984.1103593). Its limit, in sd, is the factor from the
        out-of-fold batch maxima under the persistence rule with one chart's Bonferroni share
        (the other charts' budgets are unchanged), never below 3. Alarms have kind ``sensor``,
        statistic ``pair`` and contributions ``{denser: z, sparser: -z}`` (z the standardised
        difference). On the virtual plant the generic redundancy residual reached only
        0.8-0.93 of its limit when a drifting pH probe reached its spec; the pair chart
        against the at-line pH catches it (``bench/results/monitoring_plant.json``).
        Where the training differences carry batch offsets (one-way ANOVA over batches,
        p < 0.01; a probe standardised on one noisy sample keeps that sample's error all
        batch), the pair gets a second, self-starting chart
        (:func:`~biotwin.monitoring.stats.self_starting`): each difference against the mean of
        the batch's own earlier ones, from the second row (the first is the pre-calibration
        comparison), in within-batch sd (``sd_within``), limit ``limit_self`` found the same
        way. On the plant's pH probe (12-h samples) the batch offsets are as large as the
        within-batch noise, and the offset-wide chart with its persistence rule caught one of
        three drifts 8 h after its spec; the self-starting chart catches all three before it.

    The defaults (seven families, integrals, the per-chart budget) are measured by
    ``bench/monitoring.py`` (virtual plant) and ``bench/_monitor_synthetic_eval.py`` (monod,
    pichia, bacillus generators).

    Attributes
    ----------
    variables_ : list of str
    limits_ : dict
        Per family a time-varying limit on ``limits_["grid"]`` (per variable for the vector
        families), with the scales ``scale_<family>``.
    factors_ : dict
        Factor applied to each family's limits (an array, one per variable, for the vector
        families under the ``chart`` budget).
    dt_ : float
        Sampling interval of the training batches [h] (median step); batches logged more
        often (in training or when scored) are put on it first.
    trend_tolerance_ : float
        The ``trend`` limits' time tolerance in use [h]: ``trend_tolerance_h`` widened for
        fewer than ``REFERENCE_BATCHES`` training batches.
    atypical_batches_ : list of int
        Training batches far outside the others (indices).
    sided_ : dict
        Per family of ``sided``, the mask of variables charted per side (families with none
        are left out); their limits are ``limits_[family]`` above the reference and
        ``limits_[family + "_low"]`` below.
    reference_batches_ : list of int
        Training batches the model is built on (indices): all of them, or with
        ``clean_reference`` those that were not atypical at the first fit.
    spectra_ : SpectrumCompressor or None
        The fitted compression of the spectral blocks (None without any).
    oof_batch_maxima_ : dict
        Per family, each training batch's out-of-fold worst ratio, shape (n_batches,) or
        (n_batches, n_variables).
    oof_false_alarm_rate_ : float
        Fraction of held-out normal training batches that would have alarmed.
    """

    #: per family, the margin on its factors (set by fit)
    factor_margins_: dict[str, float]

    def __init__(self, exclude: Sequence[str] = (), n_components: float = 0.9, n_grid: int = 100,
                 persistence: int = 2, obs_alpha: float = 0.01, batch_alpha: float = 0.015,
                 ewma_lambda: float = 0.1, rate_window_h: float = 2.0, cv: int = 5, ridge: float = 1e-4,
                 outlier_ratio: float = 10.0, equipment: Sequence[str] = (), integrals: bool = True,
                 detectors: Sequence[str] = ("T2", "SPE", "value", "residual", "cusum", "trend", "level",
                                             "nonlinear"),
                 cusum_k: float = 0.5, cusum_window_h: float = 24.0, response_window_h: float = 12.0,
                 budget: str = "chart", redundancy_scale: str = "pooled", phases: int = 1,
                 time_tolerance: float = 1.0, n_shifts: int = 4, pairs: bool = True,
                 trend_window_h: float = 4.0, trend_recent_h: float = 1.0, trend_limit_h: float = 1.0,
                 trend_tolerance_h: float = 0.5, trend_persistence: int = 2, spectra: bool = True,
                 same_side: bool = True, clean_reference: bool = False, sided: Sequence[str] = ("value", "level"),
                 level_window_h: float = 8.0, sided_ratio: float = 4.0, nonlinear_gain: float = 0.7,
                 cv_repeats: int = 1, clock_tolerance_h: float = 0.0, mpls_components: int = 3,
                 factor_margin: float | str = "auto", reference_points: int = 1000) -> None:
        self.exclude = exclude
        self.n_components = n_components
        self.n_grid = n_grid
        self.persistence = persistence
        self.obs_alpha = obs_alpha
        self.batch_alpha = batch_alpha
        self.ewma_lambda = ewma_lambda
        self.rate_window_h = rate_window_h
        self.cv = cv
        self.ridge = ridge
        self.outlier_ratio = outlier_ratio
        self.equipment = equipment
        self.integrals = integrals
        self.detectors = detectors
        self.cusum_k = cusum_k
        self.cusum_window_h = cusum_window_h
        self.response_window_h = response_window_h
        self.budget = budget
        self.redundancy_scale = redundancy_scale
        self.phases = phases
        self.time_tolerance = time_tolerance
        self.n_shifts = n_shifts
        self.pairs = pairs
        self.trend_window_h = trend_window_h
        self.trend_recent_h = trend_recent_h
        self.trend_limit_h = trend_limit_h
        self.trend_tolerance_h = trend_tolerance_h
        self.trend_persistence = trend_persistence
        self.same_side = same_side
        self.spectra = spectra
        self.clean_reference = clean_reference
        self.sided = sided
        self.level_window_h = level_window_h
        self.sided_ratio = sided_ratio
        self.nonlinear_gain = nonlinear_gain
        self.cv_repeats = cv_repeats
        self.clock_tolerance_h = clock_tolerance_h
        self.mpls_components = mpls_components
        self.factor_margin = factor_margin
        self.reference_points = reference_points

    def _new_core(self) -> ReferenceModel:
        """A core; with boosted redundancy models, when the ``nonlinear`` family is in use, for the
        variables it charts (``nonlinear_keep_``; every variable while that is not chosen yet)."""
        nl = None
        keep = getattr(self, "nonlinear_keep_", None)
        if "nonlinear" in self.detectors and (keep is None or keep.any()):
            nl = {"variables": None if keep is None else [int(j) for j in np.flatnonzero(keep)]}
        # variables measured on under half the rows (offline records, held between samples) are
        # no inputs of the dense signals' boosted redundancy models (ReferenceModel._boosted)
        dense = getattr(self, "trend_dense_", None)
        stale = [] if dense is None else [int(j) for j in np.flatnonzero(~np.asarray(dense, bool))]
        # monitors saved before ``reference_points`` had one grid for both
        return ReferenceModel(int(getattr(self, "reference_points", self.n_grid)), self.n_components, self.ridge,
                              self.redundancy_scale == "pooled", self.phases, getattr(self, "time_tolerance", 0.0),
                              getattr(self, "n_shifts", 4), nl,
                              mpls=int(getattr(self, "mpls_components", 3)) if "mpls" in self.detectors else 0,
                              stale=stale)

    def _feats(self, frame: pd.DataFrame) -> pd.DataFrame:
        f = engineer(frame, self.variables_, integrals=self.integrals, rate_window_h=self.rate_window_h)
        if "response" in self.detectors:
            t = f[TIME].to_numpy(float)
            extra = {f"rough({v})": rolling_diff_sd(t, f[v].to_numpy(float), self.response_window_h)
                     for v in self.variables_}
            f = pd.concat([f, pd.DataFrame(extra, index=f.index)], axis=1)
        return f

    @staticmethod
    def _at(t: np.ndarray, grid: np.ndarray, lim: np.ndarray) -> np.ndarray:
        if lim.ndim == 1:
            return np.interp(t, grid, lim)
        return np.column_stack([np.interp(t, grid, lim[:, j]) for j in range(lim.shape[1])])

    def _raw(self, core: ReferenceModel, f: pd.DataFrame, outage: np.ndarray | None = None,
             trees: bool = False) -> dict[str, np.ndarray]:
        """Each family's input before its chart, shape (n_rows,) or (n_rows, n_variables).

        Each observation is judged against the reference over a window of culture times
        (:meth:`ReferenceModel.shifted_times`): T2 and SPE are the smallest over the candidate times, and
        each variable's deviation, redundancy residual and rate the one smallest in size, so a
        normal batch whose phases come a little earlier or later than in any training batch is
        not flagged at the switch (in the spirit of DTW-aligned monitoring, Kassidas, MacGregor
        & Taylor 1998, AIChE J 44:864, doi:10.1002/aic.690440412). With ``trees`` the trees' own
        residuals come too, under ``trees`` (for the ``nonlinear`` family's choice of variables).
        """
        names = self.feature_names_
        t = f[TIME].to_numpy(float)
        Zs = core.standardise_shifted(f, names)
        Zp = core.standardise_shifted(f, names, pooled=True) if core.pooled else None
        outs = [core.stats(Zs[s], t, None if Zp is None else Zp[s]) for s in range(len(Zs))]
        t2 = np.min(np.stack([o[0] for o in outs]), axis=0)
        spe = np.min(np.stack([o[1] for o in outs]), axis=0)
        R = smallest(np.stack([o[2] for o in outs]))
        V = smallest(Zs[:, :, core.value_idx])
        if outage is not None and outage.any():
            # ``outage`` (n_rows, n_variables): each variable's own outage rows. A variable's
            # deviation there is its bridge's, not its own; every redundancy residual leans on a
            # bridged signal (each variable is regressed on all the others, their rates over
            # ``rate_window_h`` included): no evidence there, nor for a rate window after
            V = np.where(outage, 0.0, V)
            anyo = outage.any(axis=1)
            last = np.maximum.accumulate(np.where(anyo, t, -np.inf))
            R = np.where((t - last <= self.rate_window_h)[:, None], 0.0, R)
        raw = {"T2": t2, "SPE": spe, "residual": R, "value": V}
        if "cusum" in self.detectors:
            raw["cusum"] = recentre(t, R, self.cusum_window_h)
        if "nonlinear" in self.detectors:
            Zr = Zs if Zp is None else Zp
            N = smallest(np.stack([core.nl_residuals(Zr[s], t) for s in range(len(Zr))]))
            if outage is not None and outage.any():
                N = np.where((t - last <= self.rate_window_h)[:, None], 0.0, N)
            keep = getattr(self, "nonlinear_keep_", None)
            if trees:
                raw["trees"] = N
            # the evidence both models agree on: the smaller residual where they err the same way,
            # none where they err opposite ways. A tree's step at a recipe event (a feed bolus in
            # the volume) is no evidence where the linear balance holds; a kink the linear model
            # misses is none where the trees follow it (on 20 virtual-plant batches the trees'
            # own residual alarmed a normal batch at the 96-h bolus)
            N = agreed(N, R)
            raw["nonlinear"] = N if keep is None else np.where(keep, N, 0.0)
        if "rate" in self.detectors:
            idx = [names.index(f"rate({v})") for v in self.variables_]
            raw["rate"] = recentre(t, smallest(Zs[:, :, idx]), self.cusum_window_h)
        if "response" in self.detectors:
            raw["response"] = Zs[0][:, [names.index(f"rough({v})") for v in self.variables_]]
        if "level" in self.detectors:
            L = smallest(core.robust_shifted(f, names))
            raw["level"] = np.where(outage, 0.0, L) if outage is not None and outage.any() else L
        if "mpls" in self.detectors:
            raw["mpls"] = core.evolution(f, names)[0]
        if "trend" in self.detectors:
            window_h, recent_h = self.trend_windows_
            raw["trend"] = trend_innovation(t, f[self.variables_].to_numpy(float), window_h, recent_h)
            raw["trend"][:, ~self.trend_dense_] = 0.0
        return {k: v for k, v in raw.items() if k in self.detectors or k == "trees"}

    def _chart(self, family: str, x: np.ndarray) -> np.ndarray:
        """The monitored statistic of a family from its scaled input."""
        if family in ("residual", "nonlinear"):
            return np.abs(ewma(x, self.ewma_lambda))
        if family == "level":
            return ewma(x, self.level_lambda_)
        if family in SIGNED:
            return np.asarray(x, float)  # signed: a run counts on one side (:meth:`_held`)
        if family in ("cusum", "rate"):
            return cusum(x, self.cusum_k)
        if family == "response":
            return np.maximum(0.0, -ewma(x, self.ewma_lambda))
        return x

    def _stats(self, core: ReferenceModel, f: pd.DataFrame, scale: dict[str, np.ndarray],
               outage: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {k: self._chart(k, x / scale[k]) for k, x in self._raw(core, f, outage).items()}

    def _ratios(self, t: np.ndarray, st: dict[str, np.ndarray], lim: dict[str, Any]) -> dict[str, np.ndarray]:
        out = {}
        for k, v in st.items():
            g = lim.get(f"grid_{k}", lim["grid"])
            up = self._at(t, g, lim[k])
            if f"{k}_low" in lim:  # one-sided limits (``sided``): a value is judged by its own side's
                up = np.where(v >= 0, up, self._at(t, g, lim[f"{k}_low"]))
            out[k] = v / up
        return out

    @staticmethod
    def _limits(tlist: list[np.ndarray], st: list[dict[str, np.ndarray]], grid: np.ndarray, q: float,
                fams: list[str], fine: np.ndarray | None = None, dilate: int = 0,
                sided: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        """Time-varying ``q`` limits of each family from the statistics of some batches.

        The ``trend`` family's limits are on the ``fine`` grid, two steps either side: its normal
        excursions come at recipe times (a bolus feed bends every batch's off-gas at the same
        hour), and the coarse grid's window would spread them over hours around. The families
        in ``sided`` (family -> mask of its variables) get a limit per side for the masked
        variables (:func:`tv_limit_sided`): ``lim[k]`` above the reference, ``lim[k + "_low"]``
        below.
        """
        times = np.concatenate(tlist)
        lim: dict[str, Any] = {"grid": grid}
        for k in fams:
            vals = np.concatenate([s[k] for s in st]) if st[0][k].ndim == 1 else np.vstack([s[k] for s in st])
            g, hw = (fine, 2) if k == "trend" and fine is not None else (grid, 3)
            on_fine = g is fine
            if on_fine:
                lim["grid_trend"] = g
            keys = [k]
            if sided and k in sided:
                lim[k], lim[f"{k}_low"] = tv_limit_sided(times, vals, g, q, halfwidth=hw, mask=sided[k])
                keys.append(f"{k}_low")
            else:
                lim[k] = tv_limit(times, np.abs(vals), g, q, halfwidth=hw)
            for key in keys:
                lim[key] = lim[key] + 1e-12
                if on_fine and dilate > 0:
                    lim[key] = maximum_filter1d(lim[key], 2 * dilate + 1, axis=0, mode="nearest")
        return lim

    def _held(self, family: str, ratio: np.ndarray) -> np.ndarray:
        """Per chart, the ratio the persistence rule acts on: the smallest of the last k.

        For the signed families (``value``, ``trend``, ``level``) the last k must lie on one side of the
        reference, as in the run rules of Western Electric (1956, Statistical Quality Control
        Handbook; Montgomery 2019, ch. 5.3): a reading 3 sd low then one 3 sd high is noise,
        not a shift. Shape ``(n_rows, n_charts)``.
        """
        k = self._persistence(family)
        rk = ratio if ratio.ndim == 2 else ratio[:, None]
        if family in SIGNED and getattr(self, "same_side_", False):
            return np.column_stack([np.maximum(running_min(rk[:, j], k), running_min(-rk[:, j], k))
                                    for j in range(rk.shape[1])])
        return np.column_stack([running_min(np.abs(rk[:, j]), k) for j in range(rk.shape[1])])

    def _persistence(self, family: str) -> int:
        """Consecutive points over the limit before a family's chart alarms."""
        if family == "trend":
            return int(getattr(self, "trend_persistence", self.persistence))
        return self.persistence

    def _worst(self, t: np.ndarray, s: dict[str, np.ndarray], lim: dict[str, Any],
               fams: list[str]) -> dict[str, np.ndarray]:
        """Largest ratio to the limit that the persistence rule would act on: per family, and per
        variable for the vector families (shape () or (n_variables,)); for a family with a limit
        per side (``sided``), per variable above then below (shape (2 n_variables,)): each side is
        a chart of its own, with its own factor."""
        r = self._ratios(t, s, lim)
        out: dict[str, np.ndarray] = {}
        for k in fams:
            if f"{k}_low" in lim:
                rk = r[k] if r[k].ndim == 2 else r[k][:, None]
                m = self._persistence(k)
                up = np.array([np.max(running_min(rk[:, j], m), initial=0.0) for j in range(rk.shape[1])])
                low = np.array([np.max(running_min(-rk[:, j], m), initial=0.0) for j in range(rk.shape[1])])
                one = ~self.sided_[k]  # one chart for both sides
                up[one] = low[one] = np.maximum(up[one], low[one])
                out[k] = np.r_[up, low]
                continue
            w = np.max(self._held(k, r[k]), axis=0, initial=0.0)
            out[k] = w if r[k].ndim == 2 else np.asarray(w[0])
        return out

    def _sided_masks(self, st: list[dict[str, np.ndarray]], fams: list[str]) -> dict[str, np.ndarray]:
        """Per family of ``sided``, the variables whose out-of-fold statistics are lopsided: the
        ``q`` quantile of their excursions on one side at least ``sided_ratio`` times the other's.
        Those get a chart per side (:func:`tv_limit_sided`); the others keep one limit on the
        size. Sets ``sided_``."""
        self.sided_: dict[str, np.ndarray] = {}
        q = 1.0 - self.obs_alpha
        for k in getattr(self, "sided", ()):
            if k not in SIGNED or k not in fams:
                continue
            x = np.vstack([s[k] if s[k].ndim == 2 else s[k][:, None] for s in st])
            hi = np.quantile(np.maximum(x, 0.0), q, axis=0)
            lo = np.quantile(np.maximum(-x, 0.0), q, axis=0)
            ratio = float(getattr(self, "sided_ratio", 4.0))
            mask = np.maximum(hi, lo) >= ratio * np.maximum(np.minimum(hi, lo), 1e-12)
            if mask.any():
                self.sided_[k] = mask
        return self.sided_

    def _n_charts(self, worst: dict[str, np.ndarray], fams: list[str]) -> int:
        """Charts that share the false-alarm budget: T2, SPE, one per variable of each vector
        family (of ``nonlinear``, those it charts), and a second one per variable charted on each
        side (``sided_``)."""
        n = 0
        keep = getattr(self, "nonlinear_keep_", None)
        for k in fams:
            if worst[k].ndim == 1:
                n += 1
            elif k == "nonlinear" and keep is not None:  # only the variables it charts
                n += int(keep.sum())
            elif k in getattr(self, "sided_", {}):
                n += len(self.sided_[k]) + int(self.sided_[k].sum())
            else:
                n += worst[k].shape[1]
        return n

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> BatchMonitor:
        """Fit on normal batches (frames with ``time_h`` and the process variables)."""
        frames, ids = _as_frames(batches)
        given = (list(frames), list(ids))
        if len(frames) < 3:
            raise DataError("a monitor needs at least 3 normal training batches")
        short = [f"{ids[i]} ({len(f)} rows)" for i, f in enumerate(frames) if len(f) < 5]
        if short:  # a truncated export is no reference trajectory
            raise DataError(f"training batches too short to be a reference: {', '.join(short)}; 5 rows at least")
        unknown = set(self.detectors) - set(FAMILIES)
        if unknown:
            raise DataError(f"unknown detectors {sorted(unknown)}; expected some of {list(FAMILIES)}")
        if self.budget not in ("chart", "split", "joint"):
            raise DataError(f"budget must be 'chart', 'split' or 'joint', not {self.budget!r}")
        margin = getattr(self, "factor_margin", 1.0)
        if margin != "auto" and not (isinstance(margin, (int, float)) and margin >= 1.0):
            raise DataError(f"factor_margin must be 'auto' or a number of at least 1, not {margin!r}")
        tol = getattr(self, "time_tolerance", 0.0)
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)) or not tol >= 0:
            raise DataError(f"time_tolerance must be a number of at least 0, not {tol!r}")
        for name in ("n_grid", "reference_points"):
            value = getattr(self, name, 100)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 3:
                raise DataError(f"{name} must be a whole number of at least 3, not {value!r}")
        warn_unknown(frames, list(self.exclude))
        if len(frames) < FEW_BATCHES:
            # each chart's factor is an extreme-value fit to one out-of-fold maximum per batch:
            # with few batches its tail, and so the false-alarm rate, is a guess
            warnings.warn(f"monitor fitted on {len(frames)} normal batches: its limits meet the false-alarm "
                          f"budget from about {REFERENCE_BATCHES}; with 12 batches 0-4 of 10 normal batches "
                          f"alarmed on the virtual plant (docs/monitoring.md); fit on {FEW_BATCHES} or more",
                          UserWarning, stacklevel=2)
        self.same_side_ = bool(getattr(self, "same_side", True))
        self.nonlinear_keep_: np.ndarray | None = None
        self.spectra_ = None
        if getattr(self, "spectra", True):
            comp = SpectrumCompressor(exclude=tuple(self.exclude)).fit(frames)
            if comp.blocks_:
                self.spectra_ = comp
                frames = [comp.transform(f) for f in frames]
        self.variables_ = input_columns(frames, list(self.exclude), ids)
        if len(self.variables_) < 2:
            raise DataError("a monitor needs at least 2 usable variables")
        # one sampling interval: the charts count rows, so a batch logged more often than the
        # others is put on the common interval (also when scoring, see ``_prepare``)
        dt = sampling_interval(frames)
        self.dt_ = dt
        # EWMA weight of the ``level`` family: a time constant of ``level_window_h`` at this interval
        self.level_lambda_ = float(1.0 - np.exp(-dt / max(float(getattr(self, "level_window_h", 8.0)), dt)))
        frames = [regrid(f, dt) for f in frames]
        # at least one row in the recent window and four in the trend window at the sampling interval
        self.trend_windows_ = (max(self.trend_window_h, 4.0 * dt), max(self.trend_recent_h, dt))
        # a trend needs a dense signal: columns measured on under half the rows (at-line samples)
        # keep a zero trend chart
        dense = set(dense_columns(frames, self.variables_))
        self.trend_dense_ = np.array([v in dense for v in self.variables_])
        # an outage of a dense signal is bridged (also when scoring): held through it, the signal
        # would be flat and its running integral and rate off once it comes back
        frames = [bridge(f, self._dense()) for f in frames]
        feats = [self._feats(f) for f in frames]
        self.feature_names_ = [c for c in feats[0].columns if c != TIME]
        names = self.feature_names_
        value_idx = [names.index(v) for v in self.variables_]
        pca_idx = [i for i, n in enumerate(names) if not n.startswith(("cum(", "rough("))]
        reg_idx = [i for i, n in enumerate(names) if not n.startswith("rough(")]
        self._idx = (value_idx, pca_idx, reg_idx)
        # one reference grid for every fold's model and the final one: a grid that ended at each
        # fold's own 75 % quantile of batch length would put the recipe's steps (a pressure set
        # point changed at 40 h in every batch) between other grid points in each fold, and a new
        # batch would be judged against a blend its limits never saw (batches cut at 170-230 h
        # of PenSimPy: 10 of 10 normal test batches alarmed at 40.2 h)
        # (ending it at the longest batch instead of the 75 % quantile: PenSimPy cut at 170-230 h
        # 2 -> 1 of 10 normal batches alarmed, but Pichia 0 -> 3 of 20, its contamination found
        # 3.25 -> 3.65 h after it began)
        end = float(np.quantile([float(f[TIME].iloc[-1]) for f in feats], 0.75))
        # out of fold: raw inputs of each held-out batch
        # folds by the batches' ranks in the natural order of their ids, not by their position in
        # the list: the same batches listed in another order give the same folds, and so the same
        # limits (on PenSimPy four listing orders gave 11-14 of 14 faulty batches found)
        groups = id_ranks(ids)
        folds = list(GroupKFold(n_splits=min(self.cv, len(frames))).split(groups, groups=groups))
        if "nonlinear" in self.detectors and len(self.variables_) > NONLINEAR_MAX_VARIABLES:
            # a tree per variable on every other variable's features costs as the square of
            # their number (247 columns: minutes per fold); wide data is charted linearly
            self.nonlinear_gain_ = np.full(len(self.variables_), np.nan)
            self.nonlinear_keep_ = np.zeros(len(self.variables_), bool)
        # clock offsets (``clock_tolerance_h``): each held-out batch is also judged with its clock
        # that far early and late, so the limits cover what a batch clock off by minutes does at
        # the recipe's set-point steps, which synchronised training batches take to the minute
        tol = float(getattr(self, "clock_tolerance_h", 0.0))
        offsets = (tol, -tol) if tol > 0 else ()
        versions = 1 + len(offsets)
        n = len(frames)
        oof_all = self._out_of_fold(feats, folds, end, offsets)
        oof = oof_all[:n]
        q = 1.0 - self.obs_alpha
        grid = np.linspace(0.0, float(np.quantile([f[TIME].iloc[-1] for f in frames], 0.75)), self.n_grid)
        step = max(self.trend_limit_h, dt) / 2.0
        fine = np.arange(0.0, grid[-1] + step, step)
        # the tolerance holds for 30 training batches; fewer batches sample the timing of normal
        # events (an induction, a setpoint step) more sparsely, and the gap between a new batch's
        # event and the nearest training one grows as 1 / n_batches (the spacing of n order
        # statistics), so the tolerance widens in proportion
        self.trend_tolerance_ = float(getattr(self, "trend_tolerance_h", 0.0)) * max(1.0, REFERENCE_BATCHES
                                                                                    / len(frames))
        dilate = round(self.trend_tolerance_ / step)
        tlist = [f[TIME].to_numpy(float) for f in feats]
        tlist = tlist + [t + d for d in offsets for t in tlist]
        fams = [k for k in FAMILIES if k in self.detectors]
        scale: dict[str, Any] = {}
        # a chart whose out-of-fold inputs are rounding noise is switched off (its scale made
        # infinite, so its statistic is 0): a variable the same in every training batch to the
        # last digit (PenSimPy's head pressure, a set point, with reference points on the sample
        # times) had a scale of 1e-12, and a new batch's rounding noise divided by it alarmed
        # every normal batch. Rounding noise is judged against the inputs' units: the reference
        # spread for the standardised families, the variable's spread over the training batches
        # for ``trend`` (on the raw values). A changed set point still shows in T2 and SPE.
        spread = np.array([np.nanstd(np.concatenate([f[v].to_numpy(float) for f in feats])) + 1e-300
                           for v in self.variables_])
        for k in fams:
            if oof[0][k].ndim == 1:
                scale[k] = 1.0
            else:
                rms = np.sqrt(np.mean(np.vstack([o[k] for o in oof]) ** 2, axis=0))
                unit = spread if k == "trend" else 1.0
                scale[k] = np.where(rms > ROUNDING * unit, rms, np.inf)
        if self.nonlinear_keep_ is not None:
            scale["nonlinear"] = np.where(self.nonlinear_keep_, scale["nonlinear"], 1.0)
        st = [{k: self._chart(k, o[k] / scale[k]) for k in fams} for o in oof_all]
        sided = self._sided_masks(st[:n], fams)
        # batch-level worst ratio of each family under the persistence rule, against limits
        # that never saw the batch: the time-varying limits for a fold's batches come from the
        # other folds' statistics. Limits fitted on the batches they then judge would sit on
        # those batches' own excursions (autocorrelated charts put a whole excursion into one
        # time window) and understate how far a new batch goes.
        def limits(batches: list[int], st: list[dict[str, np.ndarray]]) -> dict[str, Any]:
            return self._limits([tlist[b] for b in batches], [st[b] for b in batches], grid, q, fams, fine,
                                dilate, sided)

        runs = [self._held_out_worst(st, folds, tlist, limits, versions)]
        # repeated cross-validation (cv_repeats > 1): the models and limits refitted on other
        # partitions of the batches into folds, and each batch's worst ratio averaged over them,
        # so one partition's luck does not set the factors (Burman 1989, Biometrika 76:503,
        # doi:10.1093/biomet/76.3.503, on repeated v-fold cross-validation)
        for r in range(1, max(1, int(getattr(self, "cv_repeats", 1)))):
            perm = np.random.default_rng(r).permutation(len(frames))
            folds_r = list(GroupKFold(n_splits=len(folds)).split(groups, groups=perm[groups]))
            oof_r = self._out_of_fold(feats, folds_r, end, offsets)
            st_r = [{k: self._chart(k, o[k] / scale[k]) for k in fams} for o in oof_r]
            runs.append(self._held_out_worst(st_r, folds_r, tlist, limits, versions))
        # (n_batches,) or (n_batches, n_var): over the clock copies, and of the batches as they are
        worst = {k: np.mean([w[k] for w, _ in runs], axis=0) for k in fams}
        worst_plain = {k: np.mean([w[k] for _, w in runs], axis=0) for k in fams}
        lim = self._limits(tlist[:n], st[:n], grid, q, fams, fine, dilate, sided)
        # a training batch far outside the others would set a factor alone: it is reported as
        # atypical and left out of the factors
        comb = np.max(np.column_stack([w.reshape(n, -1).max(axis=1) for w in worst_plain.values()]), axis=1)
        typical = comb <= self.outlier_ratio * float(np.median(comb))
        self.atypical_batches_ = [int(i) for i in np.flatnonzero(~typical)]
        self.factors_, self.factor_margins_ = self._factors(worst_plain, typical, fams)
        if offsets:
            # with the clock copies each factor is at least the one without them: an extreme-value
            # fit to larger maxima can extrapolate less (a heavy tail that the copies make light),
            # and a tolerance must only widen the limits (on the Monod generator the feed total's
            # factor fell from 85 to 12 without this)
            wider, wider_margins = self._factors(worst, typical, fams)
            self.factors_ = {k: np.maximum(self.factors_[k], wider[k]) for k in fams}
            self.factor_margins_ = {k: max(v, wider_margins[k]) for k, v in self.factor_margins_.items()}
        for k in fams:
            if f"{k}_low" in lim:  # factors above then below
                fk = np.broadcast_to(np.asarray(self.factors_[k], float), (2 * lim[k].shape[1],))
                lim[k] = lim[k] * fk[:lim[k].shape[1]]
                lim[f"{k}_low"] = lim[f"{k}_low"] * fk[lim[k].shape[1]:]
            else:
                lim[k] = lim[k] * self.factors_[k]
            lim[f"scale_{k}"] = scale[k]
        self.oof_batch_maxima_ = worst
        over = np.column_stack([(worst[k] > self.factors_[k]).reshape(len(frames), -1).any(axis=1) for k in fams])
        self.oof_false_alarm_rate_ = float(np.mean(over.any(axis=1)))
        self.factor_ = float(max(np.max(v) for v in self.factors_.values()))
        self.limits_ = lim
        self.equipment_ = self._fit_equipment(frames)
        n_charts = self._n_charts(worst, fams)
        self.pairs_ = (self._fit_pairs(frames, folds, typical, self.batch_alpha / max(n_charts, 1))
                       if getattr(self, "pairs", True) else [])
        self.loops_ = self._fit_loops(frames, self.batch_alpha / max(n_charts, 1))
        self.core_ = self._new_core().fit(feats, names, *self._idx, end=end)
        self.reference_batches_ = list(range(len(given[0])))
        if getattr(self, "clean_reference", False) and self.atypical_batches_ and not getattr(self, "_cleaning", False):
            self._refit_without_atypical(*given)
        return self

    def _factors(self, worst: dict[str, np.ndarray], typical: np.ndarray,
                 fams: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
        """Each family's factor on its limits from the typical batches' out-of-fold worst ratios
        ``worst`` (per chart, per family or joint, as ``budget`` says), and each family's margin
        (``factor_margin``; 1 outside the ``chart`` budget)."""
        factors: dict[str, Any] = {}
        margins = dict.fromkeys(fams, 1.0)
        if self.budget == "chart":
            # Bonferroni over every chart (T2, SPE, and each variable of each vector family):
            # each gets batch_alpha / n_charts and its own factor from its out-of-fold batch
            # maxima, so a quiet, well-modelled variable keeps a tight limit while a variable
            # whose normal batches wander gets a wide one
            n_charts = self._n_charts(worst, fams)
            share = self.batch_alpha / n_charts
            how = getattr(self, "factor_margin", 1.0)  # monitors saved before it: 1
            # the margin is checked at the share of a budget of 0.03 when the budget is smaller: at
            # a smaller share each left-out batch meets a larger factor, the margin falls, and the
            # margin's floor under a factor fell with it (Monod generator at a budget of 0.015:
            # the `value` margin 1.98 -> 1.83, three factors 7-8 % lower than at 0.03, and 4 of
            # 24 faulty batches alarmed before their onset); so a smaller budget never narrows a limit
            margin_share = max(share, MARGIN_BATCH_ALPHA / n_charts)
            for k in fams:
                wk = worst[k][typical]
                # "auto": each family's margin from a leave-one-batch-out check of its factors
                margin = loo_margin(wk, margin_share) if how == "auto" else float(how)
                margins[k] = margin
                factors[k] = (batch_factor(wk, share, margin) if wk.ndim == 1 else
                              np.array([batch_factor(wk[:, j], share, margin) for j in range(wk.shape[1])]))
        elif self.budget == "split":
            # Bonferroni over the families: each gets batch_alpha / n_families and one factor
            # from its out-of-fold batch maxima over time and variables
            share = self.batch_alpha / len(fams)
            for k in fams:
                factors[k] = batch_factor(worst[k][typical].reshape(int(typical.sum()), -1).max(axis=1), share)
        else:
            # one factor on the largest of the family ratios (the statistic the union of the
            # charts alarms on)
            comb = np.max(np.column_stack([w.reshape(len(typical), -1).max(axis=1) for w in worst.values()]), axis=1)
            joint = batch_factor(comb[typical], self.batch_alpha)
            factors = {k: joint for k in fams}
        return factors, margins

    def _out_of_fold(self, feats: list[pd.DataFrame], folds: list[tuple[np.ndarray, np.ndarray]],
                     end: float, offsets: Sequence[float] = ()) -> list[dict[str, np.ndarray]]:
        """Each batch's family inputs (:meth:`_raw`) from the models fitted on the other folds; on
        the first fold, the variables the ``nonlinear`` family charts (``nonlinear_keep_``) are
        chosen when they are not yet. With ``offsets`` [h], also each batch with its culture
        time shifted by each offset (its clock off by that much), after the batches as they are:
        ``len(feats) * (1 + len(offsets))`` entries."""
        names = self.feature_names_
        n = len(feats)
        oof: list[dict[str, np.ndarray]] = [{} for _ in range(n * (1 + len(offsets)))]
        for n_fold, (tr, te) in enumerate(folds):
            core = self._new_core().fit([feats[i] for i in tr], names, *self._idx, end=end)
            for i in te:
                oof[i] = self._raw(core, feats[i], trees=n_fold == 0)
                for v, d in enumerate(offsets, start=1):
                    oof[i + v * n] = self._raw(core, feats[i].assign(**{TIME: feats[i][TIME] + d}))
            if (n_fold == 0 and self.nonlinear_keep_ is None and "nonlinear" in self.detectors
                    and "residual" in self.detectors):
                # a variable's boosted residual is charted only where, on the first fold's held-out
                # batches, it is much smaller than its linear one (a relation with a kink);
                # elsewhere it repeats the ``residual`` chart and would only take a share of the
                # false-alarm budget (and the other folds need not fit it)
                rms = {k: np.sqrt(np.mean(np.vstack([oof[i][k] for i in te]) ** 2, axis=0)) + 1e-12
                       for k in ("trees", "residual")}
                self.nonlinear_gain_ = rms["trees"] / rms["residual"]
                self.nonlinear_keep_ = self.nonlinear_gain_ <= float(getattr(self, "nonlinear_gain", 0.7))
                for i in (int(i) + v * n for i in te for v in range(1 + len(offsets))):
                    oof[i]["nonlinear"] = np.where(self.nonlinear_keep_, oof[i]["nonlinear"], 0.0)
            for i in te:
                oof[i].pop("trees", None)
        return oof

    def _held_out_worst(self, st: list[dict[str, np.ndarray]], folds: list[tuple[np.ndarray, np.ndarray]],
                        tlist: list[np.ndarray], limits: Any,
                        versions: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Each batch's worst ratio per family (:meth:`_worst`) against limits from the other folds'
        statistics (``limits(batches, st)`` gives them), shape (n_batches,) or (n_batches, n_variables).
        With ``versions`` > 1, ``st`` and ``tlist`` hold each batch that many times (the batches,
        then each clock offset's copies, :meth:`_out_of_fold`); the limits come from the other
        folds' batches as they are. Returns the worst ratio over a batch's versions, and that of
        the batch as it is (the same dict with one version)."""
        n = len(st) // versions
        worst_b: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        as_is: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
        for _, te in folds:
            held = set(int(i) for i in te)
            rest = [b for b in range(n) if b not in held]
            lim_f = limits(rest, st)
            for b in held:
                each = [self._worst(tlist[b + v * n], st[b + v * n], lim_f, list(st[b])) for v in range(versions)]
                as_is[b] = each[0]
                worst_b[b] = {k: np.max([w[k] for w in each], axis=0) for k in each[0]} if versions > 1 else each[0]
        worst = {k: np.array([w[k] for w in worst_b]) for k in st[0]}
        return worst, ({k: np.array([w[k] for w in as_is]) for k in st[0]} if versions > 1 else worst)

    def _refit_without_atypical(self, frames: list[pd.DataFrame], ids: list[str]) -> None:
        """Fit again on the typical batches only (phase I of MSPC: batches outside the normal
        operation are taken out of the reference set and the model is rebuilt; Nomikos &
        MacGregor 1995, Technometrics 37:41, doi:10.1080/00401706.1995.10485888).

        Setting them aside from the limits' factors alone left them in the reference
        trajectories, spreads and PCA, whose spread they widen at every time: on PenSimPy
        (IndPenSim) 5 of 30 normal batches with pH at 5.2-5.8 or the temperature 3-5 K over its
        set point hid a 0.1-pH and a 0.4-K sensor drift entirely. One pass only: atypical
        batches of the rebuilt model are set aside from its factors as before.
        """
        first = list(self.atypical_batches_)
        out = set(first)
        keep = [i for i in range(len(frames)) if i not in out]
        if len(keep) < 3:
            return
        self._cleaning = True
        try:
            self.fit(BatchSet([frames[i] for i in keep], [ids[i] for i in keep]))
        finally:
            self._cleaning = False
        self.atypical_batches_ = sorted(first + [keep[i] for i in self.atypical_batches_])
        self.reference_batches_ = keep

    def _pair_worst(self, z: np.ndarray) -> float:
        """Largest standardised pair difference the persistence rule would act on."""
        return float(np.max(running_min(np.abs(z), self.persistence), initial=0.0))

    def _fit_pairs(self, frames: list[pd.DataFrame], folds: list[tuple[np.ndarray, np.ndarray]],
                   typical: np.ndarray, share: float) -> list[dict[str, Any]]:
        """Pair charts: mean and sd of each pair's difference and a limit (in sd) from out of fold."""
        out: list[dict[str, Any]] = []
        for a, b in find_pairs(frames, self.variables_):
            d = [pair_diff(f, a, b)[1] for f in frames]
            maxima = np.zeros(len(frames))
            for tr, te in folds:
                dt = np.concatenate([d[i] for i in tr])
                mu, sd = float(np.mean(dt)), float(np.std(dt)) + 1e-12
                for i in te:
                    maxima[i] = self._pair_worst((d[i] - mu) / sd)
            dall = np.concatenate(d)
            limit = max(3.0, batch_factor(maxima[typical], share))
            pr: dict[str, Any] = {"a": a, "b": b, "mean": float(np.mean(dall)), "sd": float(np.std(dall)) + 1e-12,
                                  "limit": float(limit)}
            if batch_offsets(d):
                # a second chart, self-starting: each difference against the batch's own earlier
                # ones (from the second row on: the first is where a probe is typically standardised
                # against its sample), limit from out of fold the same way
                for tr, te in folds:
                    sw = within_sd([d[i] for i in tr])
                    for i in te:
                        maxima[i] = self._pair_worst(self_starting(d[i], sw))
                pr["sd_within"] = within_sd(d)
                pr["limit_self"] = float(max(3.0, batch_factor(maxima[typical], share)))
            out.append(pr)
        return out

    def _fit_equipment(self, frames: list[pd.DataFrame]) -> dict[str, Any]:
        import re

        from biotwin.monitoring.equipment import DegradationMonitor

        out: dict[str, Any] = {}
        for spec in self.equipment:
            if spec.strip().lower().startswith("loop:"):
                continue  # a loop's activity ratio (:meth:`_fit_loops`)
            m = re.match(r"^(.*?)(?:([<>])\s*([-+0-9.eE]+))?$", spec.strip())
            assert m is not None
            pattern, op, fail = m.group(1).strip(), m.group(2), m.group(3)
            direction = "down" if op == "<" else "up"
            threshold = float(fail) if fail else (np.inf if direction == "up" else -np.inf)
            cols = [c for c in frames[0].columns if c != TIME and re.search(pattern, c, re.IGNORECASE)]
            if not cols:
                raise DataError(f"equipment pattern {pattern!r} matches no column")
            for c in cols:
                t = np.concatenate([f[TIME].to_numpy(float) for f in frames if c in f])
                x = np.concatenate([f[c].to_numpy(float) for f in frames if c in f])
                dm = DegradationMonitor(threshold=threshold, direction=direction, persistence=self.persistence)
                dm.fit(t, x)
                # alarm level: above every normal training batch's EWMA excursion
                worst = 0.0
                for f in frames:
                    if c in f:
                        xf = pd.Series(f[c].to_numpy(float)).ffill().fillna(dm.baseline_mean_).to_numpy()
                        dev = ewma(xf - dm.baseline_mean_, dm.ewma_lambda) * dm._sign() / dm.ewma_sd_
                        worst = max(worst, float(np.max(dev)))
                dm.k_sd = max(dm.k_sd, 1.2 * worst)
                out[c] = dm
        return out

    def _fit_loops(self, frames: list[pd.DataFrame], share: float) -> list[dict[str, Any]]:
        """``loop:MEASURED/ACTUATOR`` equipment specs: a lower limit on the loop's activity ratio
        (:func:`~biotwin.monitoring.equipment.loop_activity_ratio`) from the training batches'
        minima under the persistence rule, by the charts' extreme-value factor."""
        out: list[dict[str, Any]] = []
        for spec in self.equipment:
            m = re.match(r"^\s*loop:(.+)/(.+?)\s*$", spec, re.IGNORECASE)
            if m is None:
                continue
            cols = []
            for pattern in m.groups():
                hit = [c for c in frames[0].columns if c != TIME and re.search(pattern.strip(), c, re.IGNORECASE)]
                if not hit:
                    raise DataError(f"equipment {spec!r}: pattern {pattern.strip()!r} matches no column")
                cols.append(hit[0])
            mins = np.array([np.min(self._loop_held(f, *cols)[1], initial=np.inf) for f in frames])
            mins = mins[np.isfinite(mins)]
            if mins.size < 3:
                raise DataError(f"equipment {spec!r}: the loop acts in fewer than 3 training batches")
            med = float(np.median(mins))
            out.append({"measured": cols[0], "actuator": cols[1],
                        "limit": med / batch_factor(med / np.maximum(mins, 1e-12), share)})
        return out

    def _loop_held(self, frame: pd.DataFrame, measured: str, actuator: str) -> tuple[np.ndarray, np.ndarray]:
        """Times and a loop's activity ratio under the persistence rule (the largest of the last k)."""
        from biotwin.monitoring.equipment import loop_activity_ratio

        t = frame[TIME].to_numpy(float)
        r = loop_activity_ratio(t, frame[measured].to_numpy(float), frame[actuator].to_numpy(float))
        return t, -running_min(-np.nan_to_num(r, nan=np.inf), self.persistence)

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A new batch on the training's footing: spectral blocks replaced by their scores, and
        rows logged more often than the training batches put on their interval ``dt_``
        (:func:`~biotwin.batchdata.align.regrid`; an alarm is then dated at the tick that
        closes the interval holding the data behind it)."""
        comp = getattr(self, "spectra_", None)
        frame = comp.transform(frame) if comp is not None else frame
        if TIME not in frame.columns:
            return frame
        warn_if_coarser(frame, getattr(self, "dt_", 0.0))
        return regrid(frame, getattr(self, "dt_", 0.0))

    def _prepared(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None, list[dict[str, Any]]]:
        """The batch as the charts see it, each variable's outage rows, shape (n_rows, n_variables),
        and its data gaps (:meth:`data_gaps`).

        Interior outages of the dense signals are bridged (:func:`~biotwin.batchdata.gaps.bridge`;
        a batch scored while an outage lasts holds the last value until the signal is back), and
        the charts that lean on a bridged signal take no evidence from it (``_raw``).
        """
        raw = self._prepare(frame)
        if TIME not in raw.columns:
            return raw, None, []
        gaps = self._gaps(raw)
        dense = self._dense()
        outage = np.column_stack([gap_rows(raw, [v]) if v in dense else np.zeros(len(raw), bool)
                                  for v in self.variables_])
        lost = self._lost(raw)
        if lost:
            # a variable the batch never logged (absent, or no value at all) is set to its reference
            # trajectory, i.e. no deviation: T2 and SPE then judge the other variables (the
            # zero-replacement of missing variables, Nelson, Taylor & MacGregor 1996, Chemom
            # Intell Lab Syst 35:45, doi:10.1016/S0169-7439(96)00007-X), and the charts that
            # lean on it take no evidence, as in an outage
            warnings.warn(f"batch has no values of {lost}: not monitored; the other variables are "
                          f"judged with it at its reference trajectory", stacklevel=3)
            t = raw[TIME].to_numpy(float)
            core = self.core_
            ref = core._ref_at(t, core.mean, [self.feature_names_.index(v) for v in lost])
            raw = raw.assign(**{v: ref[:, j] for j, v in enumerate(lost)})
            outage[:, [self.variables_.index(v) for v in lost]] = True
        return bridge(raw, dense), outage, gaps

    def _lost(self, frame: pd.DataFrame) -> list[str]:
        """Variables a batch never logged: absent, or without a single value."""
        return [v for v in self.variables_ if v not in frame or not np.isfinite(frame[v].to_numpy(float)).any()]

    def _dense(self) -> list[str]:
        """Variables logged on at least half the training rows."""
        return [v for v, d in zip(self.variables_, getattr(self, "trend_dense_", []), strict=False) if d]

    def _scored(self, frame: pd.DataFrame,
                outage: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray,
                                                           pd.DataFrame]:
        """Times, each family's ratio to its limit, the standardised features and the features of
        a batch from :meth:`_prepared` (which sets a variable the batch lacks to its reference)."""
        f = self._feats(frame)
        check_features(self.feature_names_, [c for c in f.columns if c != TIME], "monitor")
        t = f[TIME].to_numpy(float)
        scale = {k: self.limits_[f"scale_{k}"] for k in self.limits_ if k in FAMILIES}
        r = self._ratios(t, self._stats(self.core_, f, scale, outage), self.limits_)
        return t, r, self.core_.standardise(f, self.feature_names_), f

    def trajectory(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Statistics over one batch, each divided by its limit (alarm above 1).

        Returns
        -------
        DataFrame, shape (n_rows, 3 + n_variables * n_vector_families)
            ``time_h``, ``T2``, ``SPE`` and, per variable, ``value(<variable>)``, ``residual(<variable>)``,
            ``cusum(<variable>)``, ``rate-cusum(<variable>)``, ``response(<variable>)`` and
            ``trend(<variable>)``, and ``MPLS-T2`` (those of the families in use).
        """
        prepared, outage, _ = self._prepared(frame)
        t, r, _, _ = self._scored(prepared, outage)
        cols: dict[str, np.ndarray] = {TIME: t}
        for k, v in r.items():
            col = FAMILIES[k][2]
            v = np.abs(v)
            if v.ndim == 1:
                cols[col] = v
            else:
                for j, name in enumerate(self.variables_):
                    cols[f"{col}({name})"] = v[:, j]
        return pd.DataFrame(cols)

    def _contributions(self, z: np.ndarray, statistic: str, resid: np.ndarray | None,
                       shares: np.ndarray | None = None) -> dict[str, float]:
        core = self.core_
        zp = z[core.pca_idx]
        names = [self.feature_names_[i] for i in core.pca_idx]
        if shares is not None:  # each feature's share of the statistic (``pca_idx`` columns)
            c = shares
        elif statistic == "T2":
            c = t2_contributions(zp[None, :], core.P, core.lam)[0]
        elif statistic == "SPE":
            c = spe_contributions(zp[None, :] - (zp[None, :] @ core.P) @ core.P.T)[0]
        else:
            c = None
        out: dict[str, float] = {}
        if c is not None:
            for k, name in enumerate(names):
                var = base_variable(name)
                out[var] = out.get(var, 0.0) + float(c[k])
        else:
            for j, v in enumerate(self.variables_):
                out[v] = float(resid[j]) if resid is not None else 0.0
        top = sorted(out.items(), key=lambda kv: -abs(kv[1]))[:5]
        return {k: round(v, 4) for k, v in top}

    def score(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Alarms of one batch, as the CLI prints them.

        Returns
        -------
        dict
            ``first_alarm_h`` (float or None) and ``alarms``: one dict per alarm onset with
            ``time_h``, ``kind`` (``process`` for T2/SPE/value/rate-CUSUM/trend, ``sensor`` for the
            redundancy EWMA/CUSUM and the response indicator, ``equipment`` for degradation
            indicators; ``sensor`` for the pair checks too), ``statistic`` (``T2``, ``SPE``,
            ``value``, ``residual``, ``cusum``, ``rate-cusum``, ``response``, ``trend``, ``pair``,
            ``degradation``) and
            ``contributions`` ({variable: contribution}, the five largest; for the per-variable
            families each variable's ratio to its limit; for ``pair`` the two columns' standardised
            difference, ``{denser: z, sparser: -z}``, or its self-starting z where that chart alarms);
            equipment alarms add ``rul_h`` (None without a failure level). A batch with outages
            of its signals adds ``data_gaps`` (:meth:`data_gaps`).
        """
        frame, outage, gaps = self._prepared(frame)
        t, r, Z, feats = self._scored(frame, outage)
        alarms: list[dict[str, Any]] = []
        k = self.persistence
        for fam, ratio in r.items():
            kind, stat, _ = FAMILIES[fam]
            # each chart under the persistence rule (as the limits were calibrated), then any chart
            on = self._held(fam, ratio).max(axis=1) > 1.0
            starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
            shares = (self.core_.evolution(feats, self.feature_names_)[1]
                      if fam == "mpls" and len(starts) else None)
            for i in starts:
                vec = np.abs(ratio[i]) if ratio.ndim > 1 else None
                alarms.append({"time_h": float(t[i]), "kind": kind, "statistic": stat,
                               "contributions": self._contributions(Z[i], stat, vec,
                                                                    None if shares is None else shares[i])})
        for pr in getattr(self, "pairs_", []):
            tp, d = pair_diff(frame, pr["a"], pr["b"])
            if outage is not None and outage.any():  # no comparison with a bridged signal
                keep = ~np.asarray(outage.any(axis=1))[np.searchsorted(t, tp)]
                tp, d = tp[keep], d[keep]
            z = (d - pr["mean"]) / pr["sd"]
            charts = [(z, pr["limit"])]
            if "sd_within" in pr:
                charts.append((self_starting(d, pr["sd_within"]), pr["limit_self"]))
            for zc, lim in charts:
                on = running_min(np.abs(zc), k) > lim
                for i in np.flatnonzero(on & ~np.r_[False, on[:-1]]):
                    alarms.append({"time_h": float(tp[i]), "kind": "sensor", "statistic": "pair",
                                   "contributions": {pr["a"]: round(float(zc[i]), 4),
                                                     pr["b"]: round(float(-zc[i]), 4)}})
        for col, dm in getattr(self, "equipment_", {}).items():
            if col not in frame or (col in self.variables_ and outage is not None
                                    and outage[:, self.variables_.index(col)].all()):
                continue
            s = dm.score(t, frame[col].to_numpy(float))
            on = s["alarm"].to_numpy()
            if on.any():
                first = int(np.argmax(on))
                dev = (float(s["ewma"].iloc[first]) - dm.baseline_mean_) * dm._sign() / dm.ewma_sd_
                rul = float(s["rul_h"].iloc[first])
                alarms.append({"time_h": float(t[first]), "kind": "equipment", "statistic": "degradation",
                               "contributions": {col: round(float(dev), 4)},
                               "rul_h": rul if np.isfinite(rul) else None})
        for lp in getattr(self, "loops_", []):
            if lp["measured"] not in frame or lp["actuator"] not in frame:
                continue
            tl, held = self._loop_held(frame, lp["measured"], lp["actuator"])
            low = np.flatnonzero(held < lp["limit"])
            if low.size:
                j0 = int(low[0])
                alarms.append({"time_h": float(tl[j0]), "kind": "equipment", "statistic": "degradation",
                               "contributions": {lp["measured"]: round(float(held[j0] / lp["limit"]), 4)},
                               "rul_h": None})
        alarms.sort(key=lambda a: a["time_h"])
        out: dict[str, Any] = {"first_alarm_h": alarms[0]["time_h"] if alarms else None, "alarms": alarms}
        if gaps:  # alarms during or just after one may come from it; a signal that never came back raises none
            out["data_gaps"] = gaps
        return out

    def data_gaps(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Runs of two or more missing rows in the variables logged on most training rows.

        The charts bridge such a run once the signal is back and hold the last value while it
        lasts, so an alarm during or just after it may come from the outage rather than the
        process (:func:`~biotwin.batchdata.gaps.find_gaps`; ``monitor score`` prints them).
        """
        return self._gaps(self._prepare(frame))

    def _gaps(self, raw: pd.DataFrame) -> list[dict[str, Any]]:
        """:meth:`data_gaps` of a batch already on the training's footing (:meth:`_prepare`)."""
        gaps = find_gaps(raw, self._dense())
        if TIME in raw.columns and len(raw):
            t = raw[TIME].to_numpy(float)
            have = {g["variable"] for g in gaps}
            gaps += [{"variable": v, "from_h": float(t[0]), "to_h": float(t[-1]), "rows": len(t)}
                     for v in self._lost(raw) if v not in have]
            gaps.sort(key=lambda g: (g["from_h"], g["variable"]))
        return gaps

    def metadata(self) -> dict[str, Any]:
        """What the JSON sidecar records."""
        return {"kind": "monitor", "variables": self.variables_, "features": self.feature_names_,
                "exclude": list(self.exclude), "persistence": self.persistence,
                "n_components": int(self.core_.P.shape[1]),
                "limit_factor": self.factor_,
                "limit_factors": {k: np.round(v, 4).tolist() for k, v in self.factors_.items()},
                "detectors": list(self.detectors), "integrals": self.integrals,
                "atypical_batches": self.atypical_batches_,
                "reference_batches": getattr(self, "reference_batches_", None),
                "equipment": {c: {"baseline": dm.baseline_mean_, "k_sd": dm.k_sd, "threshold": dm.threshold}
                              for c, dm in getattr(self, "equipment_", {}).items()},
                "oof_false_alarm_rate": self.oof_false_alarm_rate_,
                "pairs": len(getattr(self, "pairs_", [])), "spectra": self._spectra_summary(),
                # variables charted per side, per family (limit_factors: above, then below)
                "sided": {k: [v for v, m in zip(self.variables_, mask, strict=True) if m]
                          for k, mask in getattr(self, "sided_", {}).items()},
                "nonlinear": self._nonlinear_charted(),
                # per family, the variables whose charts held rounding noise in training and are off
                "rounding_noise_charts": self._rounding_noise_charts(),
                # per family, the margin on its factors over the largest out-of-fold maximum
                "factor_margins": {k: round(float(v), 4) for k, v in getattr(self, "factor_margins_", {}).items()}}

    def _rounding_noise_charts(self) -> dict[str, list[str]]:
        """Per vector family, the variables whose out-of-fold inputs were rounding noise, so their
        chart is off (an infinite scale, :data:`ROUNDING`); not the ``trend`` of the variables too
        sparse for it, nor the ``nonlinear`` variables it does not chart."""
        dense = getattr(self, "trend_dense_", np.ones(len(self.variables_), bool))
        out: dict[str, list[str]] = {}
        for k in FAMILIES:
            sc = np.asarray(self.limits_.get(f"scale_{k}", 1.0), float)
            if sc.ndim == 1 and len(sc) == len(self.variables_):
                off = np.isinf(sc) & (dense if k == "trend" else True)
                if off.any():
                    out[k] = [v for v, m in zip(self.variables_, off, strict=True) if m]
        return out

    def _nonlinear_charted(self) -> list[str] | None:
        """The variables the ``nonlinear`` family charts (None: every one, or the family is off)."""
        keep = getattr(self, "nonlinear_keep_", None)
        return None if keep is None else [v for v, m in zip(self.variables_, keep, strict=True) if m]

    def _spectra_summary(self) -> dict[str, dict[str, int]]:
        comp = getattr(self, "spectra_", None)
        if comp is None:
            return {}
        return {b: {"channels": len(c), "components": comp.n_scores_[b]} for b, c in comp.blocks_.items()}


#: The reference model's former name: monitors saved before it moved to
#: :mod:`biotwin.monitoring.reference` pickled it as ``biotwin.monitoring.mspc._Core``, and load
#: through this name.
_Core = ReferenceModel

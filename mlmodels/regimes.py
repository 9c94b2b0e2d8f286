"""Market regimes: each bar labelled accumulation, distribution, trending, volatile or neutral,
with a probability, for the strategies.

The model is a Gaussian hidden Markov model with five states and diagonal covariances over
three inputs per bar: a return (a multi-bar one such as ``return_20`` shows trends better
than ``return_1``), a volatility (``realized_volatility_20``) and a signed order flow
(``flow_imbalance_20``; with candles only it is 0 and accumulation and distribution are then
told apart by chance). The inputs are centred on their median in the fitting data and scaled
by their standard deviation (the volatility's logarithm, since it is skewed), then clipped at
``CLIP`` deviations, so that a handful of extreme bars do not take a state of their own.
hmmlearn fits the model (Baum-Welch), started from the best of ``restarts`` seeded Gaussian
mixtures (scikit-learn) and a sticky transition matrix; the labelling below is our own code.

States get names by these rules, in this order, each taking the best state still unnamed:
volatile = the highest mean volatility; trending = the highest |mean return| per unit of return
spread within the state; accumulation = the highest mean flow; distribution = the lowest mean
flow; neutral = the state left.

No lookahead: ``label`` uses the filtered probabilities (the forward pass: the state given bars
up to t), never the smoothed ones (given the whole series), so the label of bar t is the same
whether the series ends at t or goes on; ``RegimeTracker`` gives the same labels one bar at a
time. The minimum duration is causal too: the label moves to another state only after that
state has been the most probable for ``min_duration`` bars in a row, so every regime but the
last lasts at least ``min_duration`` bars, and a change is reported ``min_duration - 1`` bars
after the filter first sees it. The probability is the filtered probability of the labelled
state (low while the label waits out a challenger). A bar with a NaN input is labelled from
the inputs it has (a missing input adds nothing to the likelihood).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from hmmlearn.hmm import GaussianHMM
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from execution.domain.errors import DomainError

REGIMES = ("accumulation", "distribution", "trending", "volatile", "neutral")
STATES = len(REGIMES)
INPUTS = ("returns", "volatility", "flow")
CLIP = 5.0  # standard deviations: beyond this an input is an outlier, not a regime
MIN_FIT_BARS = 200
STICKY = 0.95  # the fit's first guess of staying in a state from one bar to the next
TRANSITION_FLOOR = 1e-6  # every move stays possible, so the filter can always recover
VARIANCE_FLOOR = 0.01  # in scaled units: an input constant within a state is not certainty

FloatArray = npt.NDArray[np.float64]
_LOG_2PI = math.log(2 * math.pi)


class InvalidRegimeInputs(DomainError):
    """Inputs or settings regimes cannot be fitted or labelled with; the message says why."""


def _columns(returns: npt.ArrayLike, volatility: npt.ArrayLike, flow: npt.ArrayLike) -> FloatArray:
    arrays = [np.asarray(a, dtype=np.float64) for a in (returns, volatility, flow)]
    if any(a.ndim != 1 for a in arrays) or len({len(a) for a in arrays}) != 1:
        raise InvalidRegimeInputs("returns, volatility and flow must be 1-D and of one length")
    columns = np.column_stack(arrays)
    refused = np.isinf(columns)
    refused[:, 1] |= columns[:, 1] < 0
    bad = np.argwhere(refused)
    if len(bad):
        row, column = bad[0]
        raise InvalidRegimeInputs(
            f"{INPUTS[column]} at row {row} must be finite (NaN for missing)"
            + (" and not negative" if column == 1 else "")
        )
    return columns


@dataclass(frozen=True)
class RegimeModel:
    """A fitted regime model (``fit_regimes``); plain arrays, so ``to_dict`` stores it."""

    start_probability: FloatArray  # [state]
    transition: FloatArray  # [from state, to state]
    means: FloatArray  # [state, input], scaled units
    variances: FloatArray  # [state, input], scaled units
    center: FloatArray  # [input]: subtracted before scaling
    spread: FloatArray  # [input]: divided by after centring
    volatility_floor: float  # added to volatility before its logarithm
    state_regimes: tuple[str, ...]  # the regime name of each state
    min_duration: int

    def scaled(self, columns: FloatArray) -> FloatArray:
        """The inputs as the model sees them: log volatility, centred, scaled, clipped."""
        return _scaled(columns, self.volatility_floor, self.center, self.spread)

    def log_likelihoods(self, scaled: FloatArray) -> FloatArray:
        """log p(inputs | state) per bar and state; a NaN input adds nothing."""
        z = (scaled[:, None, :] - self.means[None]) ** 2 / self.variances[None]
        terms = -0.5 * (z + np.log(self.variances)[None] + _LOG_2PI)
        total: FloatArray = np.where(np.isnan(terms), 0.0, terms).sum(axis=2)
        return total

    def label(
        self, returns: npt.ArrayLike, volatility: npt.ArrayLike, flow: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.str_], FloatArray]:
        """The regime name of every bar and its filtered probability; bar t reads bars up to t
        only (see the module docstring)."""
        columns = _columns(returns, volatility, flow)
        likelihoods = self.log_likelihoods(self.scaled(columns))
        tracker = self.tracker()
        labels = np.empty(len(columns), dtype=f"<U{max(map(len, REGIMES))}")
        probability = np.empty(len(columns))
        for bar, row in enumerate(likelihoods):
            labels[bar], probability[bar] = tracker.step(row)
        return labels, probability

    def tracker(self) -> RegimeTracker:
        """A live labeller fed one bar at a time, from the start of a series."""
        return RegimeTracker(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_probability": self.start_probability.tolist(),
            "transition": self.transition.tolist(),
            "means": self.means.tolist(),
            "variances": self.variances.tolist(),
            "center": self.center.tolist(),
            "spread": self.spread.tolist(),
            "volatility_floor": self.volatility_floor,
            "state_regimes": list(self.state_regimes),
            "min_duration": self.min_duration,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegimeModel:
        arrays = {
            key: np.asarray(data[key], dtype=np.float64)
            for key in ("start_probability", "transition", "means", "variances", "center", "spread")
        }
        return cls(
            **arrays,
            volatility_floor=float(data["volatility_floor"]),
            state_regimes=tuple(data["state_regimes"]),
            min_duration=int(data["min_duration"]),
        )


class RegimeTracker:
    """The forward filter and the minimum-duration rule, one bar at a time."""

    def __init__(self, model: RegimeModel) -> None:
        self.model = model
        self._filtered: FloatArray | None = None  # P(state | bars so far)
        self._state = -1  # the labelled state
        self._challenger = -1
        self._streak = 0

    def update(self, returns: float, volatility: float, flow: float) -> tuple[str, float]:
        """The regime of the new bar and its filtered probability."""
        columns = _columns([returns], [volatility], [flow])
        return self.step(self.model.log_likelihoods(self.model.scaled(columns))[0])

    def step(self, log_likelihood: FloatArray) -> tuple[str, float]:
        """Move on by one bar given its log-likelihood per state."""
        model = self.model
        prior = (
            model.start_probability if self._filtered is None else self._filtered @ model.transition
        )
        posterior = prior * np.exp(log_likelihood - log_likelihood.max())
        self._filtered = posterior / posterior.sum()
        top = int(np.argmax(self._filtered))
        if self._state < 0:
            self._state = top
        elif top == self._state:
            self._challenger, self._streak = -1, 0
        else:
            self._streak = self._streak + 1 if top == self._challenger else 1
            self._challenger = top
            if self._streak >= model.min_duration:
                self._state, self._challenger, self._streak = top, -1, 0
        return model.state_regimes[self._state], float(self._filtered[self._state])


def _scaled(
    columns: FloatArray, volatility_floor: float, center: FloatArray, spread: FloatArray
) -> FloatArray:
    values = columns.copy()
    values[:, 1] = np.log(values[:, 1] + volatility_floor)
    scaled: FloatArray = np.clip((values - center) / spread, -CLIP, CLIP)
    return scaled


def _scale(values: FloatArray) -> tuple[float, float]:
    """Median and standard deviation (1 if there is none) of the finite values. Not a robust
    spread: calm bars would make every volatile bar an outlier to clip."""
    finite = values[np.isfinite(values)]
    spread = float(np.std(finite))
    return float(np.median(finite)), spread if spread > 0 else 1.0


def _name_states(means: FloatArray, variances: FloatArray) -> tuple[str, ...]:
    names: dict[int, str] = {}

    def pick(regime: str, score: FloatArray) -> None:
        free = [state for state in range(STATES) if state not in names]
        names[max(free, key=lambda state: float(score[state]))] = regime

    pick("volatile", means[:, 1])
    pick("trending", np.abs(means[:, 0]) / np.sqrt(variances[:, 0]))
    pick("accumulation", means[:, 2])
    pick("distribution", -means[:, 2])
    pick("neutral", np.zeros(STATES))
    return tuple(names[state] for state in range(STATES))


def fit_regimes(
    returns: npt.ArrayLike,
    volatility: npt.ArrayLike,
    flow: npt.ArrayLike,
    *,
    min_duration: int = 5,
    seed: int = 0,
    iterations: int = 100,
    restarts: int = 10,
) -> RegimeModel:
    """Fit the five-state model on a history (bars with a NaN input are left out of the fit)."""
    if isinstance(min_duration, bool) or not isinstance(min_duration, int) or min_duration < 1:
        raise InvalidRegimeInputs(f"min_duration must be a whole number >= 1, got {min_duration!r}")
    columns = _columns(returns, volatility, flow)
    complete = columns[~np.isnan(columns).any(axis=1)]
    if len(complete) < MIN_FIT_BARS:
        raise InvalidRegimeInputs(
            f"{len(complete)} bars have every input; fitting needs at least {MIN_FIT_BARS}"
        )
    volatility_values = complete[:, 1]
    positive = volatility_values[volatility_values > 0]
    floor = 1e-3 * float(np.median(positive)) if len(positive) else 1e-12
    logged = complete.copy()
    logged[:, 1] = np.log(volatility_values + floor)
    scales = [_scale(logged[:, i]) for i in range(len(INPUTS))]
    center = np.array([c for c, _ in scales])
    spread = np.array([s for _, s in scales])
    scaled = _scaled(complete, floor, center, spread)
    # Baum-Welch from hmmlearn's own k-means start often settles in a poor optimum (one
    # regime split in two, two merged); the best of a few mixture fits starts it well.
    mixture = GaussianMixture(
        n_components=STATES,
        covariance_type="diag",
        n_init=restarts,
        reg_covar=VARIANCE_FLOOR,
        random_state=seed,
    )
    hmm = GaussianHMM(
        n_components=STATES,
        covariance_type="diag",
        n_iter=iterations,
        random_state=seed,
        min_covar=VARIANCE_FLOOR,
        init_params="",
    )
    hmm.startprob_ = np.full(STATES, 1 / STATES)
    # A sticky start: from a uniform one EM can settle on two states taking turns bar by bar.
    hmm.transmat_ = np.full((STATES, STATES), (1 - STICKY) / (STATES - 1))
    np.fill_diagonal(hmm.transmat_, STICKY)
    with threadpool_limits(limits=1):  # small matrices: threads (BLAS, OpenMP) only wait
        mixture.fit(scaled)
        hmm.means_ = mixture.means_
        hmm.covars_ = mixture.covariances_
        hmm.fit(scaled)
    transition = np.asarray(hmm.transmat_, dtype=np.float64) + TRANSITION_FLOOR
    start = np.asarray(hmm.startprob_, dtype=np.float64) + TRANSITION_FLOOR
    means = np.asarray(hmm.means_, dtype=np.float64)
    variances = np.diagonal(np.asarray(hmm.covars_, dtype=np.float64), axis1=1, axis2=2).copy()
    return RegimeModel(
        start_probability=start / start.sum(),
        transition=transition / transition.sum(axis=1, keepdims=True),
        means=means,
        variances=variances,
        center=center,
        spread=spread,
        volatility_floor=floor,
        state_regimes=_name_states(means, variances),
        min_duration=min_duration,
    )

"""Forecast of a daily series: linear trend plus weekly season, with residual-based bounds.

Pure Python least squares (numpy is not a dependency). Fewer than MIN_DAYS days of history
cannot be fitted; the weekly season is only estimated from SEASONAL_DAYS days on.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta

MIN_DAYS = 7
SEASONAL_DAYS = 14
Z_95 = 1.96


@dataclass(frozen=True, slots=True)
class Fit:
    intercept: float
    slope: float
    season: tuple[float, ...]  # seven offsets by weekday (zeros without a season)
    sigma: float
    n: int
    t_mean: float
    sxx: float
    seasonal: bool


def fit(values: list[float], first_day: date) -> Fit:
    n = len(values)
    ts = range(n)
    t_mean = (n - 1) / 2
    y_mean = sum(values) / n
    sxx = sum((t - t_mean) ** 2 for t in ts) or 1.0
    slope = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, values, strict=True)) / sxx
    intercept = y_mean - slope * t_mean
    residuals = [y - (intercept + slope * t) for t, y in zip(ts, values, strict=True)]
    season = [0.0] * 7
    seasonal = n >= SEASONAL_DAYS
    if seasonal:
        sums, counts = [0.0] * 7, [0] * 7
        for t, residual in enumerate(residuals):
            weekday = (first_day + timedelta(days=t)).weekday()
            sums[weekday] += residual
            counts[weekday] += 1
        season = [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]
        shift = sum(season) / 7
        season = [s - shift for s in season]
        residuals = [
            r - season[(first_day + timedelta(days=t)).weekday()] for t, r in enumerate(residuals)
        ]
    params = 2 + (6 if seasonal else 0)
    dof = max(n - params, 1)
    sigma = math.sqrt(sum(r * r for r in residuals) / dof)
    return Fit(intercept, slope, tuple(season), sigma, n, t_mean, sxx, seasonal)


def predict(model: Fit, first_day: date, t: int) -> tuple[float, float, float]:
    """(value, lower, upper) for day index t; values are counts or money, so never below 0."""
    day = first_day + timedelta(days=t)
    value = model.intercept + model.slope * t + model.season[day.weekday()]
    spread = Z_95 * model.sigma * math.sqrt(1 + 1 / model.n + (t - model.t_mean) ** 2 / model.sxx)
    return max(value, 0.0), max(value - spread, 0.0), max(value + spread, 0.0)


def forecast(
    values: list[float], first_day: date, horizon: int
) -> tuple[Fit, list[tuple[date, float, float, float]]]:
    model = fit(values, first_day)
    n = len(values)
    points = []
    for step in range(horizon):
        t = n + step
        value, lower, upper = predict(model, first_day, t)
        points.append((first_day + timedelta(days=t), value, lower, upper))
    return model, points

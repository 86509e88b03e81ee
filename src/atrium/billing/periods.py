"""Billing periods: intervals anchored on a subscription's start, and their monthly weight."""

import calendar
from datetime import datetime, timedelta

MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}
# MRR sums `amount * periods per year` in integer cents and divides by 12 once, so that
# weekly (* 52 / 12), quarterly (/ 3), semiannual (/ 6) and yearly (/ 12) stay exact
PERIODS_PER_YEAR = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}


def _add_months(anchor: datetime, months: int) -> datetime:
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_start(anchor: datetime, interval: str, index: int) -> datetime:
    """The start of period `index` (0 = the first) of a subscription started at `anchor`."""
    if interval == "weekly":
        return anchor + timedelta(weeks=index)
    return _add_months(anchor, MONTHS[interval] * index)


def period_index(anchor: datetime, interval: str, moment: datetime) -> int:
    """The index of the period containing `moment` (0 before the start)."""
    if moment <= anchor:
        return 0
    if interval == "weekly":
        return (moment - anchor) // timedelta(weeks=1)
    step = MONTHS[interval]
    months = (moment.year - anchor.year) * 12 + moment.month - anchor.month
    index = max(months // step, 0)
    while index > 0 and period_start(anchor, interval, index) > moment:
        index -= 1
    while period_start(anchor, interval, index + 1) <= moment:
        index += 1
    return index


def period_around(anchor: datetime, interval: str, moment: datetime) -> tuple[datetime, datetime]:
    index = period_index(anchor, interval, moment)
    return period_start(anchor, interval, index), period_start(anchor, interval, index + 1)


def calendar_month(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, _add_months(start, 1)

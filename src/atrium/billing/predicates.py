"""When a subscription bills: the one predicate every billing figure uses."""

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_

from atrium.billing.tables import BillingSubscription as Sub


def active_at(moment: datetime) -> ColumnElement[bool]:
    """Subscriptions that bill at `moment` (the predicate every revenue figure uses)."""
    return and_(
        Sub.status != "canceled",
        Sub.started_at <= moment,
        or_(Sub.terminated_at.is_(None), Sub.terminated_at > moment),
    )

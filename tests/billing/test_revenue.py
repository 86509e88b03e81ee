"""Seed 002's revenue analytics against figures computed by hand from plans and
subscriptions created through the API.

USD plans: basic monthly 10.00 (tier free), pro yearly 1,200.00 (professional), team weekly
7.00 (professional); EUR plan euro quarterly 30.00 (free). Subscriptions:
  C1 basic, started 90 days ago            C2 basic, started 60 days ago, terminated now
  C3 pro, started 200 days ago             C4 team x2, started 40 and 10 days ago
  C5 basic, pending (starts in 10 days)    C6 euro, started 100 days ago
Annual cents now (USD): basic 12,000 + pro 120,000 + team 2 x 36,400 = 204,800
  -> MRR round(204,800 / 12) = 17,067 cents; ARR = 12 x MRR = 204,804 cents.
Thirty days ago: C1, C2, C3 and one team -> 180,400 annual -> MRR 15,033.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from atrium.billing import invoicing
from tests.billing.helpers import BILLING, days_ago, make_customer, make_plan, subscribe

REVENUE = "/api/v1/analytics/revenue"


@pytest.fixture(scope="module")
def settings_overrides():
    return {"billing_invoicing_seconds": 0}


@pytest.fixture(scope="module")
def dataset(client, module_admin):
    h = module_admin.headers
    make_plan(client, h, "basic", 1000, "monthly", tier="free")
    make_plan(client, h, "pro", 120000, "yearly", tier="professional")
    make_plan(client, h, "team", 700, "weekly", tier="professional")
    make_plan(client, h, "euro", 3000, "quarterly", currency="EUR", tier="free")
    c = {n: make_customer(client, h, f"C{n}") for n in range(1, 6)}
    c[6] = make_customer(client, h, "C6", currency="EUR")
    subscribe(client, h, c[1], "basic", days_ago(90))
    churned = subscribe(client, h, c[2], "basic", days_ago(60))
    subscribe(client, h, c[3], "pro", days_ago(200))
    subscribe(client, h, c[4], "team", days_ago(40))
    subscribe(client, h, c[4], "team", days_ago(10))
    subscribe(client, h, c[5], "basic", datetime.now(UTC) + timedelta(days=10))
    subscribe(client, h, c[6], "euro", days_ago(100))
    response = client.post(f"{BILLING}/subscriptions/{churned['id']}/cancel", headers=h)
    assert response.json()["status"] == "terminated"
    return c


def get(client, headers, path, **params):
    response = client.get(f"{REVENUE}/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_overview_mrr_arr_churn_exactly(client, module_admin, dataset):
    view = get(client, module_admin.headers, "overview")
    assert view["currency"] == "USD"
    assert (view["mrr_cents"], view["arr_cents"]) == (17067, 204804)
    assert (view["mrr"], view["arr"]) == (170.67, 2048.04)
    assert view["active_subscriptions"] == 4 and view["total_customers"] == 3
    assert view["arpu_cents"] == 5689  # 17,067 / 3
    assert view["churn_rate"] == 25.0  # C2 of the 4 subscriptions active 30 days ago
    assert view["growth_rate"] == pytest.approx((17067 - 15033) / 15033 * 100, abs=1e-3)
    assert view["by_currency"]["EUR"]["mrr_cents"] == 1000  # 3,000 x 4 / 12
    assert view["by_currency"]["EUR"]["arr"] == 120.0
    euro = get(client, module_admin.headers, "overview", currency="eur")
    assert (euro["currency"], euro["mrr_cents"], euro["active_subscriptions"]) == ("EUR", 1000, 1)
    assert "USD" in euro["by_currency"]


def test_by_tier_and_by_plan_with_shares(client, module_admin, dataset):
    tiers = get(client, module_admin.headers, "by-tier")
    rows = {row["tier"]: row for row in tiers["tier_breakdown"]}
    assert tiers["total_mrr_cents"] == 17067
    # professional: 120,000 + 72,800 = 192,800 annual -> 16,067; free: 12,000 -> 1,000
    assert (rows["professional"]["mrr_cents"], rows["free"]["mrr_cents"]) == (16067, 1000)
    assert (rows["professional"]["customers"], rows["free"]["customers"]) == (2, 1)
    assert rows["professional"]["share"] == pytest.approx(16067 / 17067)
    assert rows["professional"]["avg_revenue_per_user"] == 80.34  # 16,067 / 2 -> 8,034 cents
    plans = {row["plan_code"]: row for row in get(client, module_admin.headers, "by-plan")}
    assert plans["team"]["subscriber_count"] == 2 and plans["team"]["mrr_cents"] == 6067
    assert plans["pro"]["mrr"] == 100.0 and plans["basic"]["percentage"] == pytest.approx(
        1000 / 17067 * 100, abs=1e-3
    )


def test_by_customer_ranks_by_mrr(client, module_admin, dataset):
    report = get(client, module_admin.headers, "by-customer", limit=2)
    assert report["total_customers"] == 3 and report["total_mrr_cents"] == 17067
    assert [row["name"] for row in report["customers"]] == ["C3", "C4"]
    assert [row["mrr_cents"] for row in report["customers"]] == [10000, 6067]
    rest = get(client, module_admin.headers, "by-customer", limit=2, offset=2)
    assert [row["name"] for row in rest["customers"]] == ["C1"]


def test_churn_metrics_and_lifetime_value(client, module_admin, dataset):
    today = datetime.now(UTC).date()
    window = {"start": str(today - timedelta(days=29)), "end": str(today)}
    churn = get(client, module_admin.headers, "churn", **window)
    assert churn["subscriptions_at_start"] == 4 and churn["churned_subscriptions"] == 1
    assert churn["subscription_churn_rate"] == 25.0 and churn["logo_churn_rate"] == 25.0
    assert (churn["mrr_at_start_cents"], churn["churned_mrr_cents"]) == (15033, 1000)
    assert churn["revenue_churn_rate"] == pytest.approx(1000 / 15033 * 100, abs=1e-3)
    metrics = get(client, module_admin.headers, "metrics", **window)
    assert metrics["starting_mrr_cents"] == 15033 and metrics["ending_mrr_cents"] == 17067
    assert metrics["expansion_mrr_cents"] == 3033  # C4's second team seat: 36,400 / 12
    assert metrics["churned_mrr_cents"] == 1000 and metrics["new_mrr_cents"] == 0
    assert metrics["net_revenue_retention"] == pytest.approx(204800 / 180400 * 100, abs=1e-3)
    ltv = get(client, module_admin.headers, "lifetime-value")
    # ARPU 56.89 / monthly logo churn 0.25
    assert ltv["available"] is True and ltv["ltv_cents"] == 22756 and ltv["average_ltv"] == 227.56
    assert ltv["average_customer_lifetime_months"] == 4.0
    impact = get(client, module_admin.headers, "churn-impact")
    assert impact["churned_subscribers"] == 1 and impact["revenue_impact"] == 120.0


def test_trends_follow_the_invoices(client, app, run, module_admin, dataset):
    run(invoicing.run_invoicing, app.state.db.sessions)
    h = module_admin.headers
    invoices = client.get(f"{BILLING}/invoices", params={"limit": 1000}, headers=h).json()
    today = datetime.now(UTC).date()
    first = today - timedelta(days=364)
    expected: dict[str, int] = {}
    for invoice in invoices:
        day = datetime.fromisoformat(invoice["issuing_date"]).date()
        if invoice["currency"] == "USD" and first <= day <= today:
            key = day.strftime("%Y-%m")
            expected[key] = expected.get(key, 0) + invoice["total_amount_cents"]
    trend = get(client, h, "trends", start=str(first), end=str(today), interval="month")
    got = {p["date"][:7]: p["revenue_cents"] for p in trend["data"] if p["revenue_cents"]}
    expected = {k: v for k, v in expected.items() if v}
    assert got == expected and trend["total_revenue_cents"] == sum(expected.values())
    assert trend["data"][-1]["mrr_cents"] == 17067
    assert get(client, h, "trends", period="weekly", days=30)["interval"] == "week"
    growth = get(client, h, "growth", interval="month")
    assert growth["current_mrr_cents"] == 17067 and growth["previous_month_mrr_cents"] == 15033
    assert growth["data"][-1]["mrr_cents"] == 17067


def test_mrr_history_arr_forecast_and_cohorts(client, module_admin, dataset):
    h = module_admin.headers
    history = get(client, h, "mrr", months=12)["mrr_trend"]
    assert len(history) == 12 and history[-1]["mrr_cents"] == 17067
    arr = get(client, h, "arr")
    assert arr["arr_cents"] == 204804 and arr["arr_by_tier"]["free"] == 120.0
    forecast = get(client, h, "forecasts")
    assert forecast["available"] is True and len(forecast["forecast"]) == 12
    first = forecast["forecast"][0]
    assert first["lower_cents"] <= first["mrr_cents"] <= first["upper_cents"]
    assert len(get(client, h, "forecast", months_ahead=6)["forecast"]) == 6
    cohorts = get(client, h, "cohorts/revenue")
    assert sum(row["customer_count"] for row in cohorts) >= 5


def test_bad_ranges_and_currencies_are_422(client, module_admin, dataset):
    h = module_admin.headers
    assert (
        client.get(f"{REVENUE}/overview", params={"currency": "ZZZ"}, headers=h).status_code == 422
    )
    backwards = {"start": "2026-05-01", "end": "2026-04-01"}
    assert client.get(f"{REVENUE}/trends", params=backwards, headers=h).status_code == 422
    assert (
        client.get(f"{REVENUE}/trends", params={"interval": "hour"}, headers=h).status_code == 422
    )


def test_out_of_range_dates_and_starts_are_422(client, module_admin, dataset):
    h = module_admin.headers
    edge = {"start": "9999-12-25", "end": "9999-12-31", "interval": "month"}
    assert client.get(f"{REVENUE}/trends", params=edge, headers=h).status_code == 422
    far = {
        "customer_id": dataset[1]["id"],
        "plan_code": "basic",
        "started_at": "0001-01-01T00:00:00Z",
    }
    assert client.post(f"{BILLING}/subscriptions", json=far, headers=h).status_code == 422


def test_mrr_history_movements_add_up(client, module_admin, dataset):
    history = get(client, module_admin.headers, "mrr", months=12)["mrr_trend"]
    for before, month in itertools.pairwise(history):
        change = (
            month["new_mrr_cents"]
            + month["expansion_mrr_cents"]
            - month["contraction_mrr_cents"]
            - month["churned_mrr_cents"]
        )
        # each figure is rounded to the cent on its own
        assert abs(month["mrr_cents"] - before["mrr_cents"] - change) <= 2

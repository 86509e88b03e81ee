"""A plain-language savings plan from an account's open findings, written by the gateway's
default model and metered like any other call."""

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.auth.principal import Principal
from atrium.cloud.errors import NoAdviceModel
from atrium.cloud.tables import CloudAccount, WasteFinding

MAX_FINDINGS = 50
SYSTEM = (
    "You are a cloud cost advisor. From the AWS waste findings given as JSON, write a short "
    "savings plan in plain language: what to do first, why, the expected monthly savings, "
    "and any risk to check before acting. Use only the figures given; do not invent any."
)


def _line(finding: WasteFinding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "resource": finding.resource_id,
        "type": finding.resource_type,
        "region": finding.region,
        "evidence": finding.evidence,
        "estimated_monthly_savings_usd": finding.estimated_monthly_savings,
    }


async def advise(
    session: AsyncSession, principal: Principal, account: CloudAccount, gateway: Any
) -> dict[str, Any]:
    model = await gateway.default_model(principal)
    if not model:
        raise NoAdviceModel()
    findings = list(
        await session.scalars(
            select(WasteFinding)
            .where(WasteFinding.account_id == account.id, WasteFinding.status == "open")
            .order_by(WasteFinding.estimated_monthly_savings.desc().nulls_last())
            .limit(MAX_FINDINGS)
        )
    )
    total = round(sum(f.estimated_monthly_savings or 0.0 for f in findings), 2)
    if not findings:
        return {
            "account_id": account.id,
            "model": None,
            "advice": "No open waste findings: there is nothing to save right now.",
            "findings_considered": 0,
            "estimated_monthly_savings": 0.0,
        }
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps([_line(f) for f in findings])},
        ],
    }
    reply = await gateway.complete(principal, body, origin="cloud")
    text = "".join(
        (choice.get("message") or {}).get("content") or "" for choice in reply.get("choices", [])
    )
    return {
        "account_id": account.id,
        "model": reply.get("model") or model,
        "advice": text,
        "findings_considered": len(findings),
        "estimated_monthly_savings": total,
    }

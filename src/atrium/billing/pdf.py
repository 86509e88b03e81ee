"""Invoices as PDF documents (fpdf2), rendered off the event loop."""

import asyncio
from typing import Any

from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncSession

from atrium.billing import currency as currencies
from atrium.billing import service as billing_service
from atrium.billing.tables import BillingCustomer, BillingInvoice, BillingInvoiceLine


def _text(value: Any) -> str:
    # the PDF core fonts are Latin-1; other characters are shown as "?"
    return str(value).encode("latin-1", "replace").decode("latin-1")


def _money(cents: int, code: str) -> str:
    digits = currencies.exponent(code)
    return f"{cents / 10**digits:,.{digits}f} {code}"


def _build(invoice: dict[str, Any], customer: dict[str, Any], lines: list[dict]) -> bytes:
    document = FPDF(format="A4")
    document.set_title(_text(f"Invoice {invoice['number']}"))
    document.set_creator("Atrium")
    document.add_page()
    document.set_font("Helvetica", "B", 18)
    document.cell(0, 12, _text(f"Invoice {invoice['number']}"), new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", size=10)
    facts = [
        ("Issued", invoice["issuing_date"]),
        ("Status", f"{invoice['status']} / payment {invoice['payment_status']}"),
        ("Customer", customer["name"]),
        ("Email", customer.get("email") or "-"),
    ]
    if invoice["period_start"]:
        facts.append(
            ("Period", f"{invoice['period_start']:%Y-%m-%d} to {invoice['period_end']:%Y-%m-%d}")
        )
    for label, value in facts:
        document.cell(30, 6, _text(label))
        document.cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    document.ln(4)
    code = invoice["currency"]
    with document.table(col_widths=(110, 30, 40), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
        table.row(["Item", "Units", "Amount"])
        for line in lines:
            table.row(
                [
                    _text(line["description"]),
                    f"{line['units']:,}",
                    _money(line["amount_cents"], code),
                ]
            )
    document.ln(4)
    for label, key in (("Fees", "fees_amount_cents"), ("Taxes", "taxes_amount_cents")):
        document.cell(140, 6, label, align="R")
        document.cell(40, 6, _money(invoice[key], code), align="R", new_x="LMARGIN", new_y="NEXT")
    document.set_font("Helvetica", "B", 11)
    document.cell(140, 8, "Total", align="R")
    document.cell(40, 8, _money(invoice["total_amount_cents"], code), align="R")
    return bytes(document.output())


def _plain(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


async def render_invoice(session: AsyncSession, invoice: BillingInvoice) -> bytes:
    customer = await session.get(BillingCustomer, invoice.customer_id)
    lines: list[BillingInvoiceLine] = await billing_service.invoice_lines(session, invoice.id)
    invoice_data = _plain(
        invoice,
        (
            "number",
            "issuing_date",
            "status",
            "payment_status",
            "period_start",
            "period_end",
            "currency",
            "fees_amount_cents",
            "taxes_amount_cents",
            "total_amount_cents",
        ),
    )
    customer_data = _plain(customer, ("name", "email"))
    line_data = [_plain(line, ("description", "units", "amount_cents")) for line in lines]
    return await asyncio.to_thread(_build, invoice_data, customer_data, line_data)

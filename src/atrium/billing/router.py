"""/api/v1/billing: plans, customers, subscriptions, invoices (with a PDF), the caller's own
billing, and the Lago sync."""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from atrium.billing import lago, me, pdf, reader, sync, tasks
from atrium.billing import service as billing_service
from atrium.billing.auth import BillingDelete, BillingExecute, BillingRead, BillingWrite, SignedIn
from atrium.billing.schemas import (
    BillingMe,
    CustomerCreate,
    CustomerRead,
    Deleted,
    InvoiceDetail,
    InvoiceRead,
    InvoiceStatus,
    PaymentStatus,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    Source,
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionStatus,
    SyncRunRead,
    SyncStatus,
)
from atrium.db import SessionDep
from atrium.params import MAX_ID

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

Id = Annotated[int, Query(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int | None, Query(ge=1, le=1000)]
Cursor = Annotated[int | None, Query(ge=0, le=MAX_ID, description="From X-Next-Cursor")]


def _paged(response: Response, rows: list, next_after: int | None) -> list:
    if next_after is not None:
        response.headers["X-Next-Cursor"] = str(next_after)
    return rows


# --- plans -------------------------------------------------------------------------------


@router.get("/plans", response_model=list[PlanRead])
async def list_plans(
    response: Response,
    _: BillingRead,
    session: SessionDep,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list:
    rows, next_after = await billing_service.list_plans(session, limit=limit, after_id=cursor)
    return _paged(response, rows, next_after)


@router.post("/plans", response_model=PlanRead, status_code=201)
async def create_plan(body: PlanCreate, _: BillingWrite, session: SessionDep) -> Any:
    return await billing_service.create_plan(session, body)


@router.get("/plans/{plan_id}", response_model=PlanRead)
async def read_plan(plan_id: PathId, _: BillingRead, session: SessionDep) -> Any:
    return await billing_service.get_plan(session, plan_id)


@router.put("/plans/{plan_id}", response_model=PlanRead)
async def update_plan(
    plan_id: PathId, body: PlanUpdate, _: BillingWrite, session: SessionDep
) -> Any:
    return await billing_service.update_plan(session, plan_id, body)


@router.delete(
    "/plans/{plan_id}",
    response_model=Deleted,
    description="409 while active or pending subscriptions use the plan; a plan that ended "
    "subscriptions still name is archived (hidden, kept for the analytics).",
)
async def delete_plan(plan_id: PathId, _: BillingDelete, session: SessionDep) -> Deleted:
    archived = await billing_service.delete_plan(session, plan_id)
    return Deleted(id=plan_id, archived=archived)


# --- customers ---------------------------------------------------------------------------


@router.get("/customers", response_model=list[CustomerRead])
async def list_customers(
    response: Response,
    principal: BillingRead,
    session: SessionDep,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list:
    rows, next_after = await billing_service.list_customers(
        session, principal, limit=limit, after_id=cursor
    )
    return _paged(response, rows, next_after)


@router.post("/customers", response_model=CustomerRead, status_code=201)
async def create_customer(
    body: CustomerCreate, request: Request, _: BillingWrite, session: SessionDep
) -> Any:
    return await billing_service.create_customer(session, request.app.state.settings, body)


@router.get("/customers/{customer_id}", response_model=CustomerRead)
async def read_customer(customer_id: PathId, principal: BillingRead, session: SessionDep) -> Any:
    return await billing_service.get_customer(session, principal, customer_id)


# --- subscriptions -----------------------------------------------------------------------


@router.get("/subscriptions", response_model=list[SubscriptionRead])
async def list_subscriptions(
    response: Response,
    principal: BillingRead,
    session: SessionDep,
    status: SubscriptionStatus | None = None,
    customer_id: Id | None = None,
    plan_code: Annotated[str | None, Query(max_length=100)] = None,
    source: Source | None = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list:
    rows, next_after = await billing_service.list_subscriptions(
        session,
        principal,
        status=status,
        customer_id=customer_id,
        plan_code=plan_code,
        source=source,
        limit=limit,
        after_id=cursor,
    )
    return _paged(response, rows, next_after)


@router.post("/subscriptions", response_model=SubscriptionRead, status_code=201)
async def create_subscription(
    body: SubscriptionCreate, principal: BillingWrite, session: SessionDep
) -> Any:
    return await billing_service.create_subscription(session, principal, body)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead)
async def read_subscription(
    subscription_id: PathId, principal: BillingRead, session: SessionDep
) -> Any:
    sub = await billing_service.get_subscription(session, principal, subscription_id)
    return await billing_service.read_subscription(session, sub)


@router.post(
    "/subscriptions/{subscription_id}/cancel",
    response_model=SubscriptionRead,
    description="A pending subscription becomes `canceled`; an active one `terminated`, now "
    'or, with `{"at_period_end": true}`, at the end of its current period. 409 when it '
    "already ended or is already set to end.",
)
async def cancel_subscription(
    subscription_id: PathId,
    principal: BillingWrite,
    session: SessionDep,
    body: SubscriptionCancel | None = None,
) -> Any:
    return await billing_service.cancel_subscription(
        session, principal, subscription_id, at_period_end=bool(body and body.at_period_end)
    )


# --- invoices ----------------------------------------------------------------------------


@router.get("/invoices", response_model=list[InvoiceRead])
async def list_invoices(
    response: Response,
    principal: BillingRead,
    session: SessionDep,
    customer_id: Id | None = None,
    subscription_id: Id | None = None,
    status: InvoiceStatus | None = None,
    payment_status: PaymentStatus | None = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list:
    rows, next_after = await billing_service.list_invoices(
        session,
        principal,
        customer_id=customer_id,
        subscription_id=subscription_id,
        status=status,
        payment_status=payment_status,
        limit=limit,
        after_id=cursor,
    )
    return _paged(response, rows, next_after)


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetail)
async def read_invoice(invoice_id: PathId, principal: BillingRead, session: SessionDep) -> Any:
    invoice = await billing_service.get_invoice(session, principal, invoice_id)
    lines = await billing_service.invoice_lines(session, invoice.id)
    return InvoiceDetail.model_validate(
        {**InvoiceRead.model_validate(invoice).model_dump(), "lines": lines}
    )


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice as PDF"}},
)
async def invoice_pdf(invoice_id: PathId, principal: BillingRead, session: SessionDep) -> Response:
    invoice = await billing_service.get_invoice(session, principal, invoice_id)
    document = await pdf.render_invoice(session, invoice)
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'},
    )


# --- the caller's own billing ------------------------------------------------------------


@router.get("/me", response_model=BillingMe)
async def read_my_billing(request: Request, principal: SignedIn, session: SessionDep) -> Any:
    return await me.summary(session, request.app.state, principal.user_id)


# --- Lago sync ---------------------------------------------------------------------------


@router.post(
    "/sync",
    response_model=SyncRunRead,
    status_code=202,
    responses={
        409: {"description": "A sync is already running"},
        503: {"description": "Lago is not configured (LAGO_API_URL and LAGO_API_KEY)"},
    },
)
async def start_sync(
    request: Request, response: Response, principal: BillingExecute, session: SessionDep
) -> Any:
    run = await sync.request_run(session, request.app.state, principal.user_id)
    if run.job_id is not None:
        response.headers["Location"] = f"/api/v1/jobs/{run.job_id}"
    return run


@router.get("/sync", response_model=SyncStatus)
async def read_sync(request: Request, _: BillingRead, session: SessionDep) -> Any:
    return {
        "configured": lago.configured(request.app.state.settings),
        "last_run": await sync.last_run(session),
    }


def setup(app: FastAPI) -> None:
    reader.setup(app)
    tasks.setup(app)
    sync.setup(app)

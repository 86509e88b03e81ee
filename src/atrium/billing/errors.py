"""Billing errors, each with a stable code."""

from atrium.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unprocessable


class PlanNotFound(NotFound):
    code = "plan_not_found"
    detail = "Plan not found"


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    detail = "Customer not found"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    detail = "Subscription not found"


class InvoiceNotFound(NotFound):
    code = "invoice_not_found"
    detail = "Invoice not found"


class UnknownPlan(Unprocessable):
    code = "unknown_plan"
    detail = "No plan has this code"


class UnknownCurrency(Unprocessable):
    code = "unknown_currency"
    detail = "Not an ISO 4217 currency code"


class PlanCodeTaken(Conflict):
    code = "plan_code_taken"
    detail = "A plan with this code already exists"


class PlanInUse(Conflict):
    code = "plan_in_use"
    detail = "The plan has active or pending subscriptions; cancel them first"


class CustomerTaken(Conflict):
    code = "customer_exists"
    detail = "A customer already exists for this user or external id"


class AlreadyCanceled(Conflict):
    code = "subscription_already_ended"
    detail = "The subscription is already canceled or terminated"


class LagoRecordReadOnly(Conflict):
    code = "lago_record_read_only"
    detail = "This record is synced from Lago; change it in Lago"


class CurrencyMismatch(BadRequest):
    code = "currency_mismatch"
    detail = "The plan's currency differs from the customer's"


class LagoNotConfigured(ServiceUnavailable):
    code = "lago_not_configured"
    detail = "Lago is not configured: set LAGO_API_URL and LAGO_API_KEY (or ATRIUM_LAGO_*)"


class SyncAlreadyRunning(Conflict):
    code = "sync_running"
    detail = "A Lago sync is already queued or running"

from atrium.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable


class AccountNotFound(NotFound):
    code = "cloud_account_not_found"
    detail = "Account not found or does not belong to you"


class AccountTaken(Conflict):
    code = "aws_account_taken"
    detail = "This AWS account is already connected to a different user"


class AwsVerificationFailed(BadRequest):
    code = "aws_verification_failed"


class AccountNotActive(BadRequest):
    code = "cloud_account_not_active"
    detail = "The account is not connected; finish onboarding first"


class DiscoveryRunning(Conflict):
    code = "discovery_running"
    detail = "A discovery is already running for this account"


class UnknownRegion(BadRequest):
    code = "unknown_region"


class PrincipalNotConfigured(ServiceUnavailable):
    code = "aws_principal_not_configured"
    detail = (
        "Atrium's AWS principal is not configured: set ATRIUM_AWS_PRINCIPAL_ARN to the ARN of "
        "the IAM user or role whose credentials Atrium runs with"
    )


class FindingNotFound(NotFound):
    code = "cloud_finding_not_found"
    detail = "Finding not found"


class PolicyNotFound(NotFound):
    code = "cloud_policy_not_found"
    detail = "Policy not found"


class RemediationNotFound(NotFound):
    code = "cloud_remediation_not_found"
    detail = "Remediation not found"


class ActionNotApplicable(BadRequest):
    code = "remediation_not_applicable"


class NotApprover(Forbidden):
    code = "not_an_approver"


class InvalidApprovalState(Conflict):
    code = "invalid_status_transition"


class NoAdviceModel(ServiceUnavailable):
    code = "no_provider_configured"
    detail = (
        "No LLM provider is configured, so no advice can be written: an administrator can add "
        "one with POST /api/v1/llm/providers"
    )


class PipelineNotFound(NotFound):
    code = "cloud_pipeline_not_found"
    detail = "Pipeline not found"


class PipelineRunNotFound(NotFound):
    code = "cloud_pipeline_run_not_found"
    detail = "Pipeline run not found"


class PipelineRunning(Conflict):
    code = "pipeline_running"
    detail = "The pipeline is already running"


class ReportNotReady(Conflict):
    code = "report_not_ready"
    detail = "This run has not produced its report (yet)"

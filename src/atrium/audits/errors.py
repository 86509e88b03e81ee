from atrium.errors import BadRequest, NotFound


class AuditNotFound(NotFound):
    code = "audit_not_found"
    detail = "Audit not found"


class InvalidSource(BadRequest):
    code = "invalid_audit_source"
    detail = "The repository cannot be audited"


class ReportNotReady(BadRequest):
    code = "report_not_ready"
    detail = "The audit has not completed; its report is not available yet"


class InvalidReportFormat(BadRequest):
    code = "invalid_report_format"
    detail = "Choose a report format among json, html and pdf"


class ReportMissing(NotFound):
    code = "report_not_found"
    detail = "The report file is missing"

from atrium.errors import Forbidden


class AuditLogOutOfReach(Forbidden):
    code = "audit_log_out_of_reach"

    def __init__(self) -> None:
        super().__init__("Verifying the audit log needs a role that reads everyone's logs")

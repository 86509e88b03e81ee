"""Built-in roles, resources and default grants, seeded by the first migration."""

RESOURCES: dict[str, str] = {
    "users": "User accounts",
    "api_keys": "API keys",
    "permissions": "Roles and permissions",
    "projects": "Projects",
    "conversations": "Conversations and messages",
    "files": "Uploaded files",
    "llm": "LLM providers and completions",
    "usage": "Usage and cost analytics",
    "models": "Model registry",
    "training": "Training jobs",
    "audits": "Repository audits",
    "billing": "Billing analytics",
    "cloud": "Cloud accounts",
    "system": "System settings and telemetry",
    "logs": "Audit and activity logs",
}
ACTIONS: dict[str, str] = {
    "read": "View",
    "write": "Create and change",
    "delete": "Delete",
    "execute": "Run or invoke",
}

ALL = {resource: tuple(ACTIONS) for resource in RESOURCES}
WORKSPACE = ("projects", "conversations", "files")
RWD = ("read", "write", "delete")

_member = {
    **{resource: RWD for resource in (*WORKSPACE, "api_keys")},
    "llm": ("read", "execute"),
    "usage": ("read",),
    "audits": tuple(ACTIONS),  # their own repository audits
    "cloud": ("read", "write", "delete", "execute"),  # their own cloud accounts
}
_developer = {
    **_member,
    **{resource: ("read", "write", "execute") for resource in ("models", "training", "audits")},
}
_developer["audits"] = tuple(ACTIONS)
_developer["training"] = tuple(ACTIONS)  # their own fine-tuning jobs, deleting them too
_analyst_reads = ("usage", "logs", "billing", "audits", "cloud")
_analyst = {
    **{resource: ("read",) for resource in (*WORKSPACE, *_analyst_reads, "llm", "models")},
}
_moderator = {
    **_developer,
    **{resource: ("read",) for resource in RESOURCES if resource not in _developer},
}
_moderator.pop("permissions", None)
_viewer = {resource: ("read",) for resource in (*WORKSPACE, "llm", "usage", "models")}

# (id, name, description, level, grants)
BUILTIN_ROLES: tuple[tuple[str, str, str, int, dict[str, tuple[str, ...]]], ...] = (
    ("admin", "Admin", "Full access to everything", 1, ALL),
    ("moderator", "Moderator", "Moderates every workspace; reads everything", 2, _moderator),
    ("developer", "Developer", "Builds with models, training and audits", 3, _developer),
    ("analyst", "Analyst", "Reads usage, logs, billing, audits and cloud data", 4, _analyst),
    ("viewer", "Viewer", "Read-only access to their own data", 5, _viewer),
    ("user", "User", "Default role for self-registered accounts", 5, _member),
)
BUILTIN_ROLE_IDS = frozenset(role[0] for role in BUILTIN_ROLES)

# Beyond their own objects, whose objects a role's grants reach ("Reach" in docs/architecture.md).
REACH: dict[str, dict[str, frozenset[str]]] = {
    "admin": {resource: frozenset(ACTIONS) for resource in RESOURCES},
    "moderator": {
        **{resource: frozenset(ACTIONS) - {"execute"} for resource in WORKSPACE},
        **{resource: frozenset({"read"}) for resource in RESOURCES if resource not in WORKSPACE},
    },
    "analyst": {resource: frozenset({"read"}) for resource in _analyst_reads},
}


def role_id_for(name: str) -> str:
    return name.strip().lower().replace(" ", "_")

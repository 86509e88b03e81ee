from atrium.errors import GatewayTimeout, NotFound, ServiceUnavailable


class TraefikNotConfigured(ServiceUnavailable):
    code = "traefik_not_configured"


class TraefikUnavailable(ServiceUnavailable):
    code = "traefik_unavailable"


class TraefikServiceNotFound(NotFound):
    code = "traefik_service_not_found"


class ReloadTimedOut(GatewayTimeout):
    code = "traefik_reload_timeout"

"""The gateway calls providers through the client that the transport tests exercise."""

from atrium.outbound.transport import LeanTransport


def test_the_gateway_calls_providers_on_the_lean_transport(client, app):
    assert isinstance(app.state.gateway.client._transport, LeanTransport)

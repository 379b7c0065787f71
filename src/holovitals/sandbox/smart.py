"""SMART on FHIR authorization for the sandbox EHR: the names the REST layer and tests import.

The pieces: ``smart_scopes`` (scope grammar, pure), ``smart_clients`` (registrations and client
authentication), ``smart_tokens`` (codes and tokens in memory), ``smart_authorize`` (launch and
consent), ``smart_grants`` (token endpoint, revocation, introspection), ``smart_server`` (the object
the sandbox mounts, and ``authenticate``), ``smart_routes`` (HTTP).
"""

from holovitals.sandbox.smart_clients import JWT_BEARER, ClientRegistration
from holovitals.sandbox.smart_errors import SmartError
from holovitals.sandbox.smart_grants import s256
from holovitals.sandbox.smart_scopes import (
    INTERACTION_PERMISSIONS,
    ResourceScope,
    grant_scopes,
    parse_resource_scope,
    permitting_contexts,
)
from holovitals.sandbox.smart_server import SmartAuthServer
from holovitals.sandbox.smart_tokens import TokenContext

__all__ = [
    "INTERACTION_PERMISSIONS",
    "JWT_BEARER",
    "ClientRegistration",
    "ResourceScope",
    "SmartAuthServer",
    "SmartError",
    "TokenContext",
    "grant_scopes",
    "parse_resource_scope",
    "permitting_contexts",
    "s256",
]

"""Patient data in the local store. Every access is audited, every query scoped to the caller's tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from holovitals.api.deps import Access, get_session, owned, require
from holovitals.api.problems import Problem
from holovitals.security.rbac import Permission
from holovitals.store.models import Connection, Resource
from holovitals.store.resources import (
    IncomingResource,
    InvalidResource,
    get_resource,
    history,
    list_resources,
    mark_deleted,
    upsert_resources,
)

router = APIRouter(prefix="/api/ehr/resources", tags=["resources"])
FHIR_JSON = "application/fhir+json"


def _summary(r: Resource) -> dict[str, Any]:
    return {
        "connectionId": r.connection_id,
        "resourceType": r.resource_type,
        "id": r.resource_id,
        "versionId": r.version_id,
        "lastUpdated": r.last_updated.isoformat() if r.last_updated else None,
        "patientId": r.patient_id,
        "deleted": r.deleted,
        "source": r.source,
        "fetchedAt": r.fetched_at.isoformat(),
        "localVersion": r.local_version,
    }


@router.get("")
def search_resources(
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    session: Annotated[Session, Depends(get_session)],
    type: Annotated[str | None, Query(max_length=64)] = None,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    connectionId: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    before: datetime | None = None,
    includeBody: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Resources stored for the caller's organization, filtered by type, patient and date."""
    for name, value in (("since", since), ("before", before)):
        if value is not None and value.tzinfo is None:
            raise Problem(422, "Unprocessable Content", f"query.{name}: needs a time zone, e.g. 2026-01-01T00:00:00Z")
    rows, total = list_resources(
        session,
        access.principal.org_id,
        resource_type=type,
        patient_id=patient,
        connection_id=connectionId,
        updated_since=since,
        updated_before=before,
        limit=limit,
        offset=offset,
    )
    access.audit("search", resource_type=type, patient_id=patient, detail=f"{len(rows)} of {total}", session=session)
    items = []
    for r in rows:
        item = _summary(r)
        if includeBody:
            item["resource"] = r.body
        items.append(item)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _fhir(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _etag(r: Resource) -> dict[str, str]:
    return {"ETag": f'W/"{r.version_id or r.local_version}"'}


@router.get("/{resource_type}/{resource_id}")
def read_resource(
    resource_type: str,
    resource_id: str,
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    session: Annotated[Session, Depends(get_session)],
    connectionId: str | None = None,
) -> Response:
    """The stored resource exactly as the source sent it."""
    r = get_resource(session, access.principal.org_id, resource_type, resource_id, connectionId)
    if r is None or r.deleted:
        access.audit("read", "not_found", resource_type=resource_type, resource_id=resource_id)
        raise Problem(404, "Not Found", f"no {resource_type} with that id")
    access.audit("read", resource_type=resource_type, resource_id=resource_id, patient_id=r.patient_id, session=session)
    return _fhir(r.body, headers=_etag(r))


@router.get("/{resource_type}/{resource_id}/_history")
def resource_history(
    resource_type: str,
    resource_id: str,
    access: Annotated[Access, Depends(require(Permission.READ_PHI))],
    session: Annotated[Session, Depends(get_session)],
    connectionId: str | None = None,
) -> dict[str, Any]:
    """Every version we have stored: the current one first, then the superseded ones."""
    r = get_resource(session, access.principal.org_id, resource_type, resource_id, connectionId)
    if r is None:
        access.audit("history", "not_found", resource_type=resource_type, resource_id=resource_id)
        raise Problem(404, "Not Found", f"no {resource_type} with that id")
    access.audit(
        "history", resource_type=resource_type, resource_id=resource_id, patient_id=r.patient_id, session=session
    )
    versions = [
        {
            "localVersion": r.local_version,
            "versionId": r.version_id,
            "deleted": r.deleted,
            "lastUpdated": r.last_updated.isoformat() if r.last_updated else None,
            "resource": r.body,
        }
    ]
    versions += [
        {
            "localVersion": v.local_version,
            "versionId": v.version_id,
            "deleted": v.deleted,
            "lastUpdated": v.last_updated.isoformat() if v.last_updated else None,
            "resource": v.body,
        }
        for v in history(session, r)
    ]
    return {"resourceType": resource_type, "id": resource_id, "versions": versions}


def _own_connection(session: Session, access: Access, connection_id: str | None) -> Connection:
    if not connection_id:
        raise Problem(422, "Unprocessable Content", "query.connectionId: field required")
    return owned(session, access, Connection, connection_id, "connection")


@router.put("/{resource_type}/{resource_id}")
async def put_resource(
    resource_type: str,
    resource_id: str,
    request: Request,
    access: Annotated[Access, Depends(require(Permission.WRITE_PHI))],
    session: Annotated[Session, Depends(get_session)],
    connectionId: str | None = None,
) -> Response:
    """Store a resource under a connection (an import or a local edit), through the guarded upsert."""
    conn = _own_connection(session, access, connectionId)
    raw = await request.body()
    try:
        item = IncomingResource.from_json(raw)
    except InvalidResource as exc:
        access.audit("update", "error", resource_type=resource_type, resource_id=resource_id, detail=str(exc))
        raise Problem(422, "Unprocessable Content", f"body: {exc}") from None
    if (item.resource_type, item.resource_id) != (resource_type, resource_id):
        raise Problem(422, "Unprocessable Content", "body: resourceType and id must match the URL")
    result = upsert_resources(session, conn.id, [item], source=f"api:{access.principal.actor}")
    action = "create" if result.created else "update"
    access.audit(
        action,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=item.patient_id,
        detail="unchanged" if result.unchanged else None,
        session=session,
    )
    session.flush()
    stored = get_resource(session, access.principal.org_id, resource_type, resource_id, conn.id)
    return _fhir(stored.body, 201 if result.created else 200, headers=_etag(stored))


@router.delete("/{resource_type}/{resource_id}", status_code=204)
def delete_resource(
    resource_type: str,
    resource_id: str,
    access: Annotated[Access, Depends(require(Permission.DELETE_PHI))],
    session: Annotated[Session, Depends(get_session)],
    connectionId: str | None = None,
) -> Response:
    """Tombstone a resource; its content stays in history."""
    conn = _own_connection(session, access, connectionId)
    existing = get_resource(session, access.principal.org_id, resource_type, resource_id, conn.id)
    if existing is None or existing.deleted:
        access.audit("delete", "not_found", resource_type=resource_type, resource_id=resource_id)
        raise Problem(404, "Not Found", f"no {resource_type} with that id")
    mark_deleted(session, conn.id, [(resource_type, resource_id)], source=f"api:{access.principal.actor}")
    access.audit(
        "delete", resource_type=resource_type, resource_id=resource_id, patient_id=existing.patient_id, session=session
    )
    return Response(status_code=204)

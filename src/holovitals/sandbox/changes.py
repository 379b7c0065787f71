"""The sandbox's change feed: seeded edits, creations and deletions, as a busy EHR makes them.

Incremental sync, `_since` bulk export, subscriptions and conflict detection can only be tested
against data that moves. :class:`Mutator` moves it through the ordinary store writes (new
version, new lastUpdated, listeners notified), so every consumer sees the changes exactly as it
would see a clinician's. Choices depend only on (seed, store contents): the same seed on the same
data gives the same changes, which makes a failed sync test reproducible.

`POST /_sandbox/mutate` (:func:`changes_router`) exposes it to `holovitals sandbox mutate`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from holovitals.sandbox.outcomes import outcome_response
from holovitals.sandbox.store import Gone, NotFound, Record, SandboxStore, StoreError, format_instant, utcnow

Body = dict[str, Any]

EDITABLE = ("Observation", "Condition", "MedicationRequest", "AllergyIntolerance", "Patient")
CREATABLE = ("Observation", "Encounter")
DELETABLE = ("Observation", "Condition", "AllergyIntolerance")
MUTABLE_TYPES = frozenset(EDITABLE + CREATABLE + DELETABLE)
ACTION_WEIGHTS = (("update", 6), ("create", 3), ("delete", 1))

OBSERVATION_NEXT_STATUS = {
    "registered": "preliminary",
    "preliminary": "final",
    "final": "amended",
    "amended": "corrected",
    "corrected": "amended",
}
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# (category, LOINC code, display, unit, low, high)
NEW_OBSERVATIONS = (
    ("vital-signs", "8867-4", "Heart rate", "/min", 52, 118),
    ("vital-signs", "29463-7", "Body weight", "kg", 45, 130),
    ("vital-signs", "8310-5", "Body temperature", "Cel", 36, 39),
    ("laboratory", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 65, 210),
    ("laboratory", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.5, 2.4),
)
STREETS = ("Maple Ave", "Harbor Rd", "Cedar Ln", "Elm St", "Lakeview Dr", "Mission Blvd", "Quarry Way")
CITIES = (("Springfield", "IL", "62704"), ("Fairview", "OR", "97024"), ("Riverton", "WY", "82501"))


@dataclass(frozen=True, slots=True)
class Change:
    """One write the mutator made: what a sync should now notice."""

    resource_type: str
    id: str
    action: str  # "create" | "update" | "delete"
    version: int
    last_updated: str
    patient_id: str | None
    detail: str

    @classmethod
    def of(cls, record: Record, action: str, detail: str) -> Change:
        return cls(
            record.resource_type,
            record.id,
            action,
            record.version,
            format_instant(record.last_updated),
            record.patient_id,
            detail,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Mutator:
    """Deterministic (seeded) stream of realistic changes to a :class:`SandboxStore`."""

    def __init__(self, store: SandboxStore, seed: int = 0, *, types: Iterable[str] | None = None) -> None:
        self.store = store
        self.seed = seed
        self.rng = random.Random(seed)
        self.types = frozenset(types) if types is not None else MUTABLE_TYPES
        unknown = self.types - MUTABLE_TYPES
        if unknown:
            raise ValueError(f"cannot mutate {', '.join(sorted(unknown))}; mutable: {', '.join(sorted(MUTABLE_TYPES))}")

    def step(self, n_changes: int) -> list[Change]:
        """Make up to ``n_changes`` writes; fewer only when nothing of the chosen types is left to touch."""
        ids = {t: [r.id for r in self.store.scan(t)] for t in sorted(self.types | {"Patient"})}
        changes: list[Change] = []
        for _ in range(n_changes):
            plans = self._possible(ids)
            if not plans:
                break
            names, weights = zip(*plans, strict=True)
            action = self.rng.choices(names, weights)[0]
            change = {"update": self._update, "create": self._create, "delete": self._delete}[action](ids)
            changes.append(change)
        return changes

    def _possible(self, ids: dict[str, list[str]]) -> list[tuple[str, int]]:
        can = {
            "update": any(ids.get(t) for t in EDITABLE if t in self.types),
            "create": bool(ids.get("Patient")) and any(t in self.types for t in CREATABLE),
            "delete": any(ids.get(t) for t in DELETABLE if t in self.types),
        }
        return [(action, weight) for action, weight in ACTION_WEIGHTS if can[action]]

    def _pick(self, ids: dict[str, list[str]], choices: tuple[str, ...]) -> tuple[str, str]:
        types = [t for t in choices if t in self.types and ids.get(t)]
        rtype = self.rng.choice(types)
        return rtype, self.rng.choice(ids[rtype])

    def _update(self, ids: dict[str, list[str]]) -> Change:
        rtype, rid = self._pick(ids, EDITABLE)
        current = self.store.get(rtype, rid)
        body = current.body
        detail = EDITORS[rtype](body, self.rng)
        record, _ = self.store.update(body, rid, if_match=current.version)
        return Change.of(record, "update", detail)

    def _create(self, ids: dict[str, list[str]]) -> Change:
        rtype = self.rng.choice([t for t in CREATABLE if t in self.types])
        patient = self.rng.choice(ids["Patient"])
        body, detail = CREATORS[rtype](patient, self.rng, self.store)
        record = self.store.create(body, resource_id=self._new_id(rtype))
        ids.setdefault(rtype, []).append(record.id)
        return Change.of(record, "create", detail)

    def _delete(self, ids: dict[str, list[str]]) -> Change:
        rtype, rid = self._pick(ids, DELETABLE)
        ids[rtype].remove(rid)
        tomb = self.store.delete(rtype, rid)
        return Change.of(tomb, "delete", "deleted (entered in error)")

    def _new_id(self, rtype: str) -> str:
        while True:  # a repeat of a seed on the same store draws ids already taken: draw again
            rid = f"mut-{self.rng.getrandbits(48):012x}"
            try:
                self.store.get(rtype, rid)
            except NotFound:
                return rid
            except Gone:
                continue


# ---------------------------------------------------------------------- edits (in place; return a summary)


def _edit_observation(body: Body, rng: random.Random) -> str:
    old = body.get("status", "final")
    body["status"] = OBSERVATION_NEXT_STATUS.get(old, "amended")
    detail = f"status {old} -> {body['status']}"
    quantity = body.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        value = quantity["value"] * rng.uniform(0.85, 1.15)
        quantity["value"] = round(value, 1) if isinstance(quantity["value"], float) else round(value)
        detail += f", value -> {quantity['value']}"
    return detail


def _clinical(system: str, code: str) -> Body:
    return {"coding": [{"system": system, "code": code}]}


def _code_of(concept: Any) -> str | None:
    try:
        return concept["coding"][0]["code"]
    except (KeyError, IndexError, TypeError):
        return None


def _edit_condition(body: Body, rng: random.Random) -> str:
    old = _code_of(body.get("clinicalStatus")) or "active"
    if old in ("active", "recurrence", "relapse"):
        new = rng.choice(("resolved", "remission", "inactive"))
        body["abatementDateTime"] = format_instant(utcnow())
    else:
        new = "recurrence"
        body.pop("abatementDateTime", None)
    body["clinicalStatus"] = _clinical(CONDITION_CLINICAL, new)
    return f"clinicalStatus {old} -> {new}"


def _edit_medication_request(body: Body, rng: random.Random) -> str:
    old = body.get("status", "active")
    new = rng.choice(("completed", "stopped", "on-hold")) if old == "active" else "active"
    body["status"] = new
    if new == "stopped":
        body["statusReason"] = {"text": "Discontinued by prescriber"}
    return f"status {old} -> {new}"


def _edit_allergy(body: Body, rng: random.Random) -> str:
    old = _code_of(body.get("clinicalStatus")) or "active"
    new = rng.choice(("inactive", "resolved")) if old == "active" else "active"
    body["clinicalStatus"] = _clinical(ALLERGY_CLINICAL, new)
    if "criticality" in body and rng.random() < 0.5:
        body["criticality"] = "high" if body["criticality"] != "high" else "low"
    return f"clinicalStatus {old} -> {new}"


def _edit_patient(body: Body, rng: random.Random) -> str:
    city, state, postal = rng.choice(CITIES)
    line = f"{rng.randint(10, 9999)} {rng.choice(STREETS)}"
    body["address"] = [{"use": "home", "line": [line], "city": city, "state": state, "postalCode": postal}]
    phone = f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    others = [t for t in body.get("telecom", []) if t.get("system") != "phone"]
    body["telecom"] = [{"system": "phone", "value": phone, "use": "home"}, *others]
    return f"moved to {city}, {state}; phone changed"


EDITORS: dict[str, Callable[[Body, random.Random], str]] = {
    "Observation": _edit_observation,
    "Condition": _edit_condition,
    "MedicationRequest": _edit_medication_request,
    "AllergyIntolerance": _edit_allergy,
    "Patient": _edit_patient,
}


# ---------------------------------------------------------------------- creations (body, summary)


def _new_observation(patient: str, rng: random.Random, _store: SandboxStore) -> tuple[Body, str]:
    category, code, display, unit, low, high = rng.choice(NEW_OBSERVATIONS)
    value = rng.uniform(low, high)
    when = format_instant(utcnow())
    body = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "issued": when,
        "valueQuantity": {"value": round(value, 1), "unit": unit, "system": UCUM, "code": unit},
    }
    return body, f"new {display}"


def _new_encounter(patient: str, rng: random.Random, store: SandboxStore) -> tuple[Body, str]:
    end = utcnow()
    start = end - timedelta(minutes=rng.choice((15, 20, 30, 45)))
    body: Body = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up"}]}
        ],
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": format_instant(start), "end": format_instant(end)},
    }
    organizations = store.scan("Organization")
    if organizations:
        body["serviceProvider"] = {"reference": f"Organization/{rng.choice(organizations).id}"}
    return body, "new ambulatory encounter"


CREATORS: dict[str, Callable[[str, random.Random, SandboxStore], tuple[Body, str]]] = {
    "Observation": _new_observation,
    "Encounter": _new_encounter,
}


# ---------------------------------------------------------------------- admin API


class MutateRequest(BaseModel):
    changes: int = Field(20, ge=1, le=10_000, description="how many writes to make")
    seed: int | None = Field(None, description="seed for this call; omitted: the server's next seed (0, 1, 2...)")
    types: list[str] | None = Field(None, description="restrict to these resource types")


def summarize(changes: list[Change], seed: int | None) -> dict[str, Any]:
    counts = {"create": 0, "update": 0, "delete": 0}
    by_type: dict[str, int] = {}
    for change in changes:
        counts[change.action] += 1
        by_type[change.resource_type] = by_type.get(change.resource_type, 0) + 1
    return {
        "seed": seed,
        "applied": len(changes),
        "counts": counts,
        "by_type": dict(sorted(by_type.items())),
        "changes": [c.to_json() for c in changes],
    }


def changes_router(store: SandboxStore | None = None) -> APIRouter:
    """`POST /_sandbox/mutate`; mount at the app root. Without ``store``, uses ``app.state.store``."""
    router = APIRouter()
    next_seed: dict[int, int] = {}  # id(store) -> seed for the next unseeded call: a replayable sequence

    @router.post("/_sandbox/mutate", tags=["sandbox"])
    def mutate(body: MutateRequest, request: Request) -> Response:
        target = store if store is not None else getattr(request.app.state, "store", None)
        if target is None:
            return outcome_response(500, "the sandbox app has no store attached", code="exception")
        seed = body.seed
        if seed is None:
            seed = next_seed.get(id(target), 0)
            next_seed[id(target)] = seed + 1
        try:
            mutator = Mutator(target, seed, types=body.types)
            changes = mutator.step(body.changes)
        except ValueError as exc:
            return outcome_response(400, str(exc), code="not-supported")
        except StoreError as exc:  # a concurrent client write won the race; the caller may simply retry
            return outcome_response(409, f"a concurrent write interfered: {exc}", code="conflict")
        return JSONResponse(summarize(changes, seed))

    return router

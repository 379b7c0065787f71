"""The shared directory: Organizations, their Locations and Practitioners.

The directory depends on the seed only (not on the population size), so a patient's references
to it are the same whatever the population. `directory_index(seed)` is cached: patients read it
to pick their clinic, doctor and hospital without rebuilding anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from . import names, vocab
from .rng import MS_PER_DAY, Clock, directory_key, seeded_rng

# (name, kind, location type code and display) — invented names, no real facilities.
ORGANIZATIONS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Riverbend Regional Medical Center",
        "hospital",
        (("Main Campus", "HOSP", "Hospital"), ("Emergency Department", "ER", "Emergency room")),
    ),
    (
        "Ashgrove Community Hospital",
        "hospital",
        (("Inpatient Tower", "HOSP", "Hospital"), ("Emergency Department", "ER", "Emergency room")),
    ),
    ("Maple Hollow Family Medicine", "primary", (("Clinic", "FMC", "Family medicine clinic"),)),
    ("Kestrel Ridge Internal Medicine", "primary", (("Clinic", "GIM", "General internal medicine clinic"),)),
    ("Juniper Street Primary Care", "primary", (("Clinic", "FMC", "Family medicine clinic"),)),
    ("Brightwater Pediatrics", "pediatrics", (("Clinic", "PEDC", "Pediatrics clinic"),)),
    ("Little Acorn Children's Clinic", "pediatrics", (("Clinic", "PEDC", "Pediatrics clinic"),)),
    ("Silverpine Cardiology Associates", "cardiology", (("Heart Center", "OF", "Outpatient facility"),)),
    ("Copperfield Orthopedics & Sports Medicine", "orthopedics", (("Clinic", "ORTHO", "Orthopedics clinic"),)),
    ("Bluestem Women's Health", "womens", (("Clinic", "OF", "Outpatient facility"),)),
    ("Northwind Behavioral Health", "behavioral", (("Clinic", "OF", "Outpatient facility"),)),
    ("Tallgrass Reference Laboratory", "lab", (("Specimen Center", "OF", "Outpatient facility"),)),
)
# How many practitioners each kind of organization employs.
STAFF = {
    "hospital": 10,
    "primary": 6,
    "pediatrics": 5,
    "cardiology": 4,
    "orthopedics": 3,
    "womens": 4,
    "behavioral": 3,
    "lab": 2,
}

# Chronic conditions that bring a patient to a specialist (SNOMED -> organization kind).
SPECIALTY_FOR_CONDITION = {
    "49436004": "cardiology",
    "84114007": "cardiology",
    "53741008": "cardiology",
    "399211009": "cardiology",
    "400047006": "cardiology",
    "70995007": "cardiology",
    "239873007": "orthopedics",
    "64859006": "orthopedics",
    "370143000": "behavioral",
    "13746004": "behavioral",
    "58214004": "behavioral",
    "47505003": "behavioral",
    "254837009": "womens",
}


@dataclass(frozen=True, slots=True)
class Place:
    line: str
    city: str
    state: str
    postal_code: str
    phone: str
    fips: str


@dataclass(frozen=True, slots=True)
class PractitionerEntry:
    id: str
    given: str
    family: str
    gender: str
    qualification: tuple[str, str]
    npi: str
    org_id: str
    prefix: str
    display: str

    def ref(self) -> dict:
        return {"reference": f"Practitioner/{self.id}", "display": self.display}


@dataclass(frozen=True, slots=True)
class LocationEntry:
    id: str
    name: str
    type: tuple[str, str]
    org_id: str
    place: Place

    def ref(self) -> dict:
        return {"reference": f"Location/{self.id}", "display": self.name}


@dataclass(frozen=True, slots=True)
class OrganizationEntry:
    id: str
    name: str
    kind: str
    npi: str
    place: Place
    locations: tuple[LocationEntry, ...]
    practitioners: tuple[PractitionerEntry, ...]

    def ref(self) -> dict:
        return {"reference": f"Organization/{self.id}", "display": self.name}


@dataclass(frozen=True, slots=True)
class DirectoryIndex:
    organizations: tuple[OrganizationEntry, ...]
    by_kind: dict[str, tuple[OrganizationEntry, ...]]

    def of_kind(self, kind: str) -> tuple[OrganizationEntry, ...]:
        return self.by_kind[kind]


def luhn_npi(first_nine: str) -> str:
    """A 10-digit NPI with its check digit (Luhn over the '80840' card-issuer prefix, as CMS defines)."""
    digits = [int(d) for d in "80840" + first_nine]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return first_nine + str((10 - total % 10) % 10)


def _place(rng, city: tuple[str, str, str, str, str]) -> Place:
    name, state, zip3, area, fips = city
    line = f"{rng.randint(10, 9999)} {rng.choice(names.STREET_NAMES)} {rng.choice(names.STREET_SUFFIXES)}"
    # 555-01xx is the only exchange reserved for fiction; every generated phone number uses it.
    return Place(line, name, state, f"{zip3}{rng.randint(0, 99):02d}", f"{area}-555-01{rng.randint(0, 99):02d}", fips)


@lru_cache(maxsize=8)
def directory_index(seed: int) -> DirectoryIndex:
    rng = seeded_rng(seed, "directory")
    key = directory_key(seed)
    # The whole directory sits in one metro area, as a health system's would.
    home_cities = rng.sample(names.CITIES, 3)
    orgs = []
    pract_no = 0
    for org_no, (org_name, kind, location_specs) in enumerate(ORGANIZATIONS, start=1):
        org_id = f"org-{key}-{org_no}"
        place = _place(rng, home_cities[org_no % len(home_cities)])
        locations = tuple(
            LocationEntry(f"loc-{key}-{org_no}-{n}", f"{org_name} {loc_name}", (code, display), org_id, place)
            for n, (loc_name, code, display) in enumerate(location_specs, start=1)
        )
        practitioners = []
        for _ in range(STAFF[kind]):
            pract_no += 1
            group = rng.choices(names.NAME_GROUPS, weights=[g.weight for g in names.NAME_GROUPS])[0]
            gender = rng.choice(("female", "male"))
            given = rng.choice(group.female if gender == "female" else group.male)
            family = rng.choice(group.family)
            qualification = vocab.PRACTITIONER_QUALIFICATIONS[rng.choices((0, 1, 2, 3), (6, 2, 2, 1))[0]]
            npi = luhn_npi(f"{rng.randint(1, 2)}{rng.randint(0, 99_999_999):08d}")
            prefix = "Dr." if qualification[0] in ("MD", "DO") else ""
            practitioners.append(
                PractitionerEntry(
                    f"pract-{key}-{pract_no}",
                    given,
                    family,
                    gender,
                    qualification,
                    npi,
                    org_id,
                    prefix,
                    f"{prefix} {given} {family}, {qualification[0]}".lstrip(),
                )
            )
        org_npi = luhn_npi(f"{rng.randint(1, 2)}{rng.randint(0, 99_999_999):08d}")
        orgs.append(OrganizationEntry(org_id, org_name, kind, org_npi, place, locations, tuple(practitioners)))
    by_kind = {kind: tuple(o for o in orgs if o.kind == kind) for kind in STAFF}
    return DirectoryIndex(tuple(orgs), by_kind)


def _address(place: Place) -> dict:
    return {
        "use": "work",
        "line": [place.line],
        "city": place.city,
        "state": place.state,
        "postalCode": place.postal_code,
        "country": "US",
    }


def directory_resources(seed: int, as_of_ms: int) -> list[dict]:
    """Fresh Organization, Location and Practitioner dicts (callers may mutate them)."""
    index = directory_index(seed)
    clock = Clock(as_of_ms, seeded_rng(seed, "directory-stamps"))
    # Directory entries are old: created years ago, touched some time in the lastUpdated window.
    created = clock.window_start - 3 * 365 * MS_PER_DAY
    out: list[dict] = []
    for org in index.organizations:
        out.append(
            {
                "resourceType": "Organization",
                "id": org.id,
                "meta": clock.meta(created, vocab.PROFILE["Organization"]),
                "identifier": [{"system": vocab.NPI, "value": org.npi}],
                "active": True,
                "type": [
                    {"coding": [{"system": vocab.ORGANIZATION_TYPE, "code": "prov", "display": "Healthcare Provider"}]}
                ],
                "name": org.name,
                "telecom": [{"system": "phone", "value": org.place.phone, "use": "work"}],
                "address": [_address(org.place)],
            }
        )
        for loc in org.locations:
            out.append(
                {
                    "resourceType": "Location",
                    "id": loc.id,
                    "meta": clock.meta(created, vocab.PROFILE["Location"]),
                    "status": "active",
                    "name": loc.name,
                    "mode": "instance",
                    "type": [
                        {
                            "coding": [{"system": vocab.V3_ROLE_CODE, "code": loc.type[0], "display": loc.type[1]}],
                            "text": loc.type[1],
                        }
                    ],
                    "telecom": [{"system": "phone", "value": loc.place.phone, "use": "work"}],
                    "address": _address(loc.place),
                    "managingOrganization": org.ref(),
                }
            )
        for p in org.practitioners:
            name = {"use": "official", "family": p.family, "given": [p.given], "suffix": [p.qualification[0]]}
            if p.prefix:
                name["prefix"] = [p.prefix]
            domain = names.ascii_slug(org.name.split()[0])
            email = f"{names.ascii_slug(p.given)}.{names.ascii_slug(p.family)}@{domain}.example.org"
            out.append(
                {
                    "resourceType": "Practitioner",
                    "id": p.id,
                    "meta": clock.meta(created, vocab.PROFILE["Practitioner"]),
                    "identifier": [{"system": vocab.NPI, "value": p.npi}],
                    "active": True,
                    "name": [name],
                    "telecom": [
                        {"system": "phone", "value": org.place.phone, "use": "work"},
                        {"system": "email", "value": email, "use": "work"},
                    ],
                    "address": [_address(org.place)],
                    "gender": p.gender,
                    "qualification": [
                        {
                            "code": {
                                "coding": [
                                    {"system": vocab.V2_0360, "code": p.qualification[0], "display": p.qualification[1]}
                                ],
                                "text": p.qualification[1],
                            },
                        }
                    ],
                }
            )
    return out

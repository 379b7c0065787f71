"""Who a synthetic patient is (Person) and their US Core Patient resource."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import names, vocab
from .directory import DirectoryIndex, OrganizationEntry, Place, PractitionerEntry
from .rng import MS_PER_DAY, MS_PER_YEAR, Clock, fmt_date

# Age bands and their share of the population (roughly the US age pyramid), ages 0-95.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 5, 6),
    (5, 18, 16),
    (18, 35, 22),
    (35, 50, 19),
    (50, 65, 19),
    (65, 80, 13),
    (80, 96, 5),
)
_AGE_WEIGHTS = [w for _, _, w in AGE_BANDS]
_GROUP_WEIGHTS = [g.weight for g in names.NAME_GROUPS]

# MRNs are a permutation of the patient index (48271 is prime and coprime with 9e7), so they are
# unique within any population smaller than 90 million and still look unordered.
_MRN_SPACE = 90_000_000


@dataclass(slots=True)
class Person:
    index: int
    key: str
    gender: str
    birth_ms: int
    age: float  # years at as_of
    given: str
    middle: str | None
    family: str
    group: names.NameGroup
    place: Place
    phone: str
    mrn: str
    home_org: OrganizationEntry
    gp: PractitionerEntry
    height_z: float  # stays with the person: tall children grow into tall adults
    bmi_offset: float

    @property
    def display(self) -> str:
        return f"{self.given} {self.family}"

    def age_at(self, ms: int) -> float:
        return (ms - self.birth_ms) / MS_PER_YEAR


def make_person(
    rng: random.Random, index: int, key: str, seed: int, directory: DirectoryIndex, as_of_ms: int
) -> Person:
    low, high, _ = rng.choices(AGE_BANDS, _AGE_WEIGHTS)[0]
    age = rng.uniform(low, high)
    birth_day = (as_of_ms - int(age * MS_PER_YEAR)) // MS_PER_DAY
    birth_ms = birth_day * MS_PER_DAY
    gender = "female" if rng.random() < 0.51 else "male"
    group = rng.choices(names.NAME_GROUPS, _GROUP_WEIGHTS)[0]
    given_pool = group.female if gender == "female" else group.male
    given = rng.choice(given_pool)
    middle = rng.choice(given_pool) if rng.random() < 0.6 else None
    if middle == given:
        middle = None
    city = rng.choice(names.CITIES)
    line = f"{rng.randint(1, 9999)} {rng.choice(names.STREET_NAMES)} {rng.choice(names.STREET_SUFFIXES)}"
    if rng.random() < 0.2:
        line += f" Apt {rng.randint(1, 40)}{rng.choice('ABCD')}"
    phone = f"{city[3]}-555-01{rng.randint(0, 99):02d}"
    place = Place(line, city[0], city[1], f"{city[2]}{rng.randint(0, 99):02d}", phone, city[4])
    home_kind = "pediatrics" if age < 18 else "primary"
    home_org = rng.choice(directory.of_kind(home_kind))
    gp = rng.choice(home_org.practitioners)
    obese_bias = 6.0 if rng.random() < 0.3 else 0.0
    return Person(
        index=index,
        key=key,
        gender=gender,
        birth_ms=birth_ms,
        age=age,
        given=given,
        middle=middle,
        family=rng.choice(group.family),
        group=group,
        place=place,
        phone=phone,
        mrn=str(10_000_000 + (index * 48_271 + seed * 7_919) % _MRN_SPACE),
        home_org=home_org,
        gp=gp,
        height_z=rng.gauss(0, 1),
        bmi_offset=rng.gauss(0, 2.5) + obese_bias,
    )


def _omb_extension(url: str, system_code: tuple[str, str, str], text: str) -> dict:
    system, code, display = system_code
    return {
        "url": url,
        "extension": [
            {"url": "ombCategory", "valueCoding": {"system": system, "code": code, "display": display}},
            {"url": "text", "valueString": text},
        ],
    }


def patient_resource(person: Person, rng: random.Random, clock: Clock, last_visit_ms: int) -> dict:
    group = person.group
    extensions = []
    if rng.random() < 0.93:
        race = rng.choices(group.races, [share for _, _, share in group.races])[0]
        extensions.append(_omb_extension(vocab.US_CORE_RACE, (vocab.OMB_RACE_ETHNICITY, race[0], race[1]), race[1]))
        hispanic = rng.random() < group.hispanic
        ethnicity = ("2135-2", "Hispanic or Latino") if hispanic else ("2186-5", "Not Hispanic or Latino")
        extensions.append(_omb_extension(vocab.US_CORE_ETHNICITY, (vocab.OMB_RACE_ETHNICITY, *ethnicity), ethnicity[1]))
    else:
        # Real registration data has people who decline to answer; US Core codes that explicitly.
        declined = ("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "ASKU", "asked but unknown")
        extensions.append(_omb_extension(vocab.US_CORE_RACE, declined, "Declined to answer"))
    extensions.append({"url": vocab.US_CORE_BIRTHSEX, "valueCode": "F" if person.gender == "female" else "M"})

    identifiers = [
        {
            "use": "usual",
            "type": {
                "coding": [{"system": vocab.V2_0203, "code": "MR", "display": "Medical Record Number"}],
                "text": "MRN",
            },
            "system": vocab.MRN_SYSTEM,
            "value": person.mrn,
            "assigner": person.home_org.ref(),
        },
        # Area number 999 is never issued: these can't collide with a real Social Security number.
        {
            "use": "official",
            "type": {
                "coding": [{"system": vocab.V2_0203, "code": "SS", "display": "Social Security number"}],
                "text": "SSN",
            },
            "system": vocab.US_SSN,
            "value": f"999-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        },
    ]
    if person.age >= 16 and rng.random() < 0.7:
        identifiers.append(
            {
                "use": "official",
                "type": {
                    "coding": [{"system": vocab.V2_0203, "code": "DL", "display": "Driver's license number"}],
                    "text": "Driver's License",
                },
                "system": vocab.DRIVERS_LICENSE_OID + person.place.fips,
                "value": f"S{rng.randint(10_000_000, 99_999_999)}",
            }
        )

    given = [person.given] if person.middle is None else [person.given, person.middle]
    name_list = [
        {"use": "official", "text": " ".join([*given, person.family]), "family": person.family, "given": given}
    ]
    if person.gender == "female" and person.age > 25 and rng.random() < 0.3:
        name_list.append({"use": "maiden", "family": rng.choice(group.family), "given": list(given)})

    telecom = [{"system": "phone", "value": person.phone, "use": "home"}]
    if person.age >= 13 and rng.random() < 0.7:
        telecom.append(
            {
                "system": "phone",
                "value": f"{person.phone[:3]}-555-01{rng.randint(0, 99):02d}",
                "use": "mobile",
                "rank": 1,
            }
        )
    if person.age >= 16 and rng.random() < 0.6:
        local = f"{names.ascii_slug(person.given)}.{names.ascii_slug(person.family)}{rng.randint(1, 99)}"
        telecom.append({"system": "email", "value": f"{local}@{rng.choice(names.EMAIL_DOMAINS)}", "use": "home"})

    language = rng.choices(group.languages, [share for _, _, share in group.languages])[0]
    resource = {
        "resourceType": "Patient",
        "id": person.key,
        "meta": clock.meta(last_visit_ms, vocab.PROFILE["Patient"]),
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": name_list,
        "telecom": telecom,
        "gender": person.gender,
        "birthDate": fmt_date(person.birth_ms),
        "address": [
            {
                "use": "home",
                "type": "physical",
                "line": [person.place.line],
                "city": person.place.city,
                "state": person.place.state,
                "postalCode": person.place.postal_code,
                "country": "US",
            }
        ],
        "communication": [
            {
                "language": {
                    "coding": [{"system": vocab.BCP47, "code": language[0], "display": language[1]}],
                    "text": language[1],
                },
                "preferred": True,
            }
        ],
        "generalPractitioner": [person.gp.ref()],
        "managingOrganization": person.home_org.ref(),
    }
    if person.age >= 18:
        weights = (5, 4, 1.5, 0.2) if person.age < 65 else (5, 1, 1.5, 3)
        code, display = rng.choices(vocab.MARITAL_STATUS, weights)[0]
        resource["maritalStatus"] = {
            "coding": [{"system": vocab.V3_MARITAL, "code": code, "display": display}],
            "text": display,
        }
    else:
        parent_given = rng.choice(group.female if rng.random() < 0.6 else group.male)
        resource["contact"] = [
            {
                "relationship": [{"coding": [{"system": vocab.V2_0131, "code": "N", "display": "Next-of-Kin"}]}],
                "name": {"family": person.family, "given": [parent_given]},
                "telecom": [{"system": "phone", "value": person.phone, "use": "home"}],
            }
        ]
    return resource

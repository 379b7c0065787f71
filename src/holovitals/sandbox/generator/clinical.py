"""A patient's chart: problems, visits and everything a visit leaves behind.

`Chart` holds the per-patient state (rng, clock, id counter, the resources made so far) and has
one method per kind of resource. `build_chart` plans the patient's history first (problems,
visits) and then writes it out visit by visit, so every reference points at something already
planned. Resources are plain dicts, built fresh: nothing is shared between two resources, so a
caller may mutate one without touching another.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import pairwise

from . import vocab
from .directory import SPECIALTY_FOR_CONDITION, DirectoryIndex, LocationEntry, OrganizationEntry
from .directory import PractitionerEntry as Clinician
from .patient import Person
from .rng import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_YEAR, Clock, fmt_datetime, fmt_instant

# Years of visits the synthetic EHR holds; older history shows up only as problems and vaccines.
HISTORY_YEARS = 3
# Well-child visits by age in days (AAP periodicity schedule, birth to 3 years), then yearly.
WELL_CHILD_DAYS = (5, 30, 60, 120, 180, 270, 365, 450, 545, 730, 913, 1095)
# Chronic problems a person may outgrow or get under control.
RESOLVABLE = frozenset(
    {
        "11381005",
        "279039007",
        "370143000",
        "197480006",
        "193462001",
        "37796009",
        "24079001",
        "40055000",
        "449868002",
        "47505003",
        "15777000",
        "414916001",
    }
)
CANCERS = frozenset({"399068003", "254837009", "363406005"})
RESPIRATORY_OR_CARDIAC = frozenset({"195967001", "13645005", "87433001", "84114007", "49436004", "70995007"})
FEVERISH = frozenset(
    {"233604007", "43878008", "65363002", "840539006", "386661006", "444814009", "195662009", "10509002", "128045006"}
)

_CLINICAL = {"active": "Active", "resolved": "Resolved", "inactive": "Inactive", "remission": "Remission"}
_DOSE_UNITS = {"{tbl}": "tablet", "{cap}": "capsule", "{puff}": "puff", "{spray}": "spray", "[IU]": "unit", "mg": "mg"}


def age_band(age: float) -> int:
    return 0 if age < 18 else (1 if age < 65 else 2)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def interpolate(table: tuple[tuple[float, float], ...], x: float) -> float:
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in pairwise(table):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


# CDC growth charts, 50th percentile, roughly: (age in years, value)
HEIGHT_CM = {
    "female": (
        (0, 50),
        (0.5, 66),
        (1, 74),
        (2, 86),
        (3, 95),
        (4, 102),
        (6, 115),
        (8, 127),
        (10, 138),
        (12, 151),
        (14, 160),
        (16, 162),
        (18, 163),
        (70, 162),
        (95, 158),
    ),
    "male": (
        (0, 50),
        (0.5, 68),
        (1, 76),
        (2, 88),
        (3, 96),
        (4, 103),
        (6, 116),
        (8, 128),
        (10, 138),
        (12, 149),
        (14, 164),
        (16, 173),
        (18, 176),
        (70, 175),
        (95, 171),
    ),
}
BMI = (
    (0, 13.4),
    (0.5, 17.2),
    (1, 17.2),
    (2, 16.3),
    (4, 15.7),
    (6, 15.4),
    (8, 16.0),
    (10, 17.0),
    (12, 18.5),
    (14, 19.8),
    (16, 21.0),
    (18, 22.0),
    (25, 25.0),
    (45, 27.5),
    (65, 28.0),
    (80, 26.5),
    (95, 25.0),
)
HEAD_CM = ((0, 35), (0.5, 43.5), (1, 46), (2, 48.5), (3, 49.5))


@dataclass(slots=True)
class Problem:
    code: vocab.ConditionCode
    onset_ms: int
    recorded_ms: int
    status: str
    abatement_ms: int | None
    regimen: tuple[str, ...] = ()  # RxNorm codes of the long-term medicines for this problem
    id: str = ""

    def active_at(self, ms: int) -> bool:
        return self.onset_ms <= ms and (self.abatement_ms is None or ms < self.abatement_ms)


@dataclass(slots=True)
class Visit:
    start_ms: int
    kind: str  # a key of vocab.ENCOUNTER_KINDS
    org: OrganizationEntry
    clinician: Clinician
    location: LocationEntry
    problems: list[Problem] = field(default_factory=list)
    acute: vocab.ConditionCode | None = None
    days: int = 0  # inpatient length of stay
    procedure: str | None = None
    end_ms: int = 0
    id: str = ""


class Chart:
    """Per-patient state and one builder per resource type."""

    __slots__ = (
        "allergies",
        "as_of",
        "clock",
        "directory",
        "hist_start",
        "lab_org",
        "meds",
        "n",
        "out",
        "person",
        "prefix",
        "problems",
        "rng",
        "subject_ref",
        "vaccines",
        "visits",
    )

    def __init__(self, person: Person, rng: random.Random, clock: Clock, directory: DirectoryIndex) -> None:
        self.person = person
        self.rng = rng
        self.clock = clock
        self.directory = directory
        self.as_of = clock.as_of
        self.hist_start = max(person.birth_ms, clock.as_of - HISTORY_YEARS * MS_PER_YEAR)
        self.lab_org = directory.of_kind("lab")[0]
        self.out: list[dict] = []
        self.n = 0
        self.prefix = person.key + "-"
        self.subject_ref = f"Patient/{person.key}"
        self.problems: list[Problem] = []
        self.visits: list[Visit] = []
        # rxnorm -> (when ordered, the newest MedicationRequest for it); renewing completes the old one.
        self.meds: dict[str, tuple[int, dict]] = {}
        self.allergies: list[dict] = []
        self.vaccines: list[dict] = []

    # --- small helpers ------------------------------------------------------------------------

    def new_id(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    def subject(self) -> dict:
        return {"reference": self.subject_ref}

    # --- planning -----------------------------------------------------------------------------

    def plan_problems(self) -> None:
        rng, person = self.rng, self.person
        band = age_band(person.age)
        chosen: dict[str, Problem] = {}
        for code in vocab.CHRONIC_CONDITIONS:
            if (code.sex and code.sex != person.gender) or not code.min_age <= person.age <= code.max_age:
                continue
            if rng.random() >= code.weight[band]:
                continue
            onset_age = rng.uniform(max(code.min_age, person.age - 30, 0), person.age)
            onset = min(person.birth_ms + int(onset_age * MS_PER_YEAR), self.as_of - MS_PER_DAY)
            recorded = onset if onset >= self.hist_start else self.hist_start + int(rng.random() * 120 * MS_PER_DAY)
            recorded = min(recorded, self.as_of - MS_PER_HOUR)
            status, abatement = "active", None
            if code.snomed in RESOLVABLE and rng.random() < 0.2:
                status = "resolved"
                abatement = recorded + int(rng.random() * (self.as_of - recorded))
            elif code.snomed in CANCERS and rng.random() < 0.4:
                status = "remission"
                abatement = recorded + int(rng.random() * (self.as_of - recorded))
            regimens = vocab.CONDITION_REGIMENS.get(code.snomed)
            regimen = rng.choice(regimens) if regimens and rng.random() < 0.85 else ()
            chosen[code.snomed] = Problem(code, onset, recorded, status, abatement, regimen)
        # Type 1, type 2 and prediabetes exclude one another.
        if "46635009" in chosen:
            chosen.pop("44054006", None)
            chosen.pop("15777000", None)
        elif "44054006" in chosen:
            chosen.pop("15777000", None)
        self.problems = list(chosen.values())

    def _clinic_for(self, problem: Problem | None) -> tuple[OrganizationEntry, Clinician, LocationEntry]:
        person, rng = self.person, self.rng
        kind = SPECIALTY_FOR_CONDITION.get(problem.code.snomed) if problem else None
        if kind:
            # A patient keeps going to the same practice for a specialty.
            practices = self.directory.of_kind(kind)
            org = practices[person.index % len(practices)]
            return org, rng.choice(org.practitioners), org.locations[0]
        org = person.home_org
        # Most visits are with one's own doctor; a colleague covers the rest.
        clinician = person.gp if rng.random() < 0.75 else rng.choice(org.practitioners)
        return org, clinician, org.locations[0]

    def _hospital(self, emergency: bool) -> tuple[OrganizationEntry, Clinician, LocationEntry]:
        hospitals = self.directory.of_kind("hospital")
        org = hospitals[self.person.index % len(hospitals)] if self.rng.random() < 0.8 else self.rng.choice(hospitals)
        location = org.locations[1] if emergency and len(org.locations) > 1 else org.locations[0]
        return org, self.rng.choice(org.practitioners), location

    def _office_time(self, day_ms: int) -> int:
        """A weekday-agnostic office slot between 08:00 and 16:45 on the day of `day_ms`."""
        day = day_ms - day_ms % MS_PER_DAY
        return day + (8 * 60 + 15 * self.rng.randrange(36)) * MS_PER_MINUTE

    def plan_visits(self) -> None:
        rng, person, as_of, start = self.rng, self.person, self.as_of, self.hist_start
        years = (as_of - start) / MS_PER_YEAR
        visits: list[Visit] = []

        # Preventive care.
        wellness_days: list[int] = []
        if person.age < 18:
            wellness_days = [person.birth_ms + d * MS_PER_DAY for d in WELL_CHILD_DAYS]
            wellness_days += [person.birth_ms + int((y + rng.uniform(-0.1, 0.2)) * MS_PER_YEAR) for y in range(4, 18)]
            kind = "well-child"
        else:
            attend = 0.75 if person.age < 65 else 0.9
            year_start = start
            while year_start < as_of:
                if rng.random() < attend:
                    wellness_days.append(year_start + int(rng.random() * MS_PER_YEAR))
                year_start += MS_PER_YEAR
            kind = "wellness"
        for day in wellness_days:
            if start <= day < as_of - MS_PER_DAY:
                visits.append(Visit(self._office_time(day), kind, *self._clinic_for(None)))

        # Follow-up of chronic problems, one or two problems per visit.
        followed = [p for p in self.problems if p.status == "active"]
        if followed:
            lam = min(2.5, 0.45 * len(followed)) * years
            for _ in range(poisson(rng, lam)):
                t = start + int(rng.random() * (as_of - MS_PER_DAY - start))
                current = [p for p in followed if p.active_at(t)]
                if not current:
                    continue
                addressed = rng.sample(current, min(len(current), 1 + (rng.random() < 0.35)))
                visit_kind = "virtual" if rng.random() < 0.1 else "followup"
                visits.append(
                    Visit(self._office_time(t), visit_kind, *self._clinic_for(addressed[0]), problems=addressed)
                )

        # Acute problems.
        rate = (1.0, 0.45, 0.7)[age_band(person.age)]
        pregnant = False
        for _ in range(poisson(rng, rate * years)):
            t = start + int(rng.random() * (as_of - MS_PER_DAY - start))
            age = person.age_at(t)
            band = age_band(age)
            candidates = [
                c
                for c in vocab.ACUTE_CONDITIONS
                if c.min_age <= age <= c.max_age and (c.sex is None or c.sex == person.gender) and c.weight[band] > 0
            ]
            if not candidates:
                continue
            code = rng.choices(candidates, [c.weight[band] for c in candidates])[0]
            if code.snomed == "72892002":
                if pregnant:
                    continue
                pregnant = True
            setting, procedure, days = vocab.ACUTE_SETTING.get(code.snomed, ("acute", None, 0))
            if setting == "acute" and rng.random() < 0.06:
                setting = "EMER"
            elif setting == "acute" and rng.random() < 0.1:
                setting = "virtual"
            if code.snomed == "72892002" and rng.random() < 0.68:
                procedure = None  # vaginal delivery: no cesarean
            if setting in ("EMER", "IMP"):
                org, clinician, location = self._hospital(setting == "EMER")
                begin = t - t % MS_PER_DAY + int(rng.random() * MS_PER_DAY)
                # A stay still going on at as_of would need an in-progress Encounter; admit earlier.
                begin = max(min(begin, as_of - (days + 2) * MS_PER_DAY), start)
            else:
                org, clinician, location = self._clinic_for(None)
                begin = self._office_time(t)
            stay = days + 1 if days and rng.random() < 0.4 else days
            visits.append(Visit(begin, setting, org, clinician, location, acute=code, days=stay, procedure=procedure))

        visits.sort(key=lambda v: v.start_ms)
        for v in visits:
            if v.kind == "IMP":
                v.end_ms = v.start_ms + v.days * MS_PER_DAY + int(rng.uniform(2, 8) * MS_PER_HOUR)
            elif v.kind == "EMER":
                v.end_ms = v.start_ms + int(rng.uniform(2, 7) * MS_PER_HOUR)
            else:
                v.end_ms = v.start_ms + rng.choice((15, 20, 30, 30, 40, 45)) * MS_PER_MINUTE
            v.end_ms = min(v.end_ms, self.as_of - MS_PER_MINUTE)
            v.id = self.new_id()
        self.visits = visits

    # --- problems and allergies ---------------------------------------------------------------

    def condition(
        self,
        code: vocab.ConditionCode,
        status: str,
        onset_ms: int,
        recorded_ms: int,
        abatement_ms: int | None,
        visit: Visit | None,
        recorder: Clinician,
    ) -> dict:
        problem_list = visit is None
        category, category_display = (
            ("problem-list-item", "Problem List Item")
            if problem_list
            else ("encounter-diagnosis", "Encounter Diagnosis")
        )
        resource = {
            "resourceType": "Condition",
            "id": self.new_id(),
            "meta": self.clock.meta(recorded_ms, vocab.PROFILE["problem" if problem_list else "diagnosis"]),
            "clinicalStatus": {
                "coding": [{"system": vocab.CONDITION_CLINICAL, "code": status, "display": _CLINICAL[status]}]
            },
            "verificationStatus": {
                "coding": [{"system": vocab.CONDITION_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
            },
            "category": [
                {"coding": [{"system": vocab.CONDITION_CATEGORY, "code": category, "display": category_display}]}
            ],
            "code": {
                "coding": [
                    {"system": vocab.SNOMED, "code": code.snomed, "display": code.snomed_display},
                    {"system": vocab.ICD10CM, "code": code.icd10, "display": code.icd10_display},
                ],
                "text": code.snomed_display,
            },
            "subject": self.subject(),
            "onsetDateTime": fmt_datetime(onset_ms),
            "recordedDate": fmt_datetime(recorded_ms),
            "recorder": recorder.ref(),
            "asserter": recorder.ref(),
        }
        if visit is not None:
            resource["encounter"] = {"reference": f"Encounter/{visit.id}"}
        if abatement_ms is not None:
            resource["abatementDateTime"] = fmt_datetime(abatement_ms)
        self.out.append(resource)
        return resource

    def write_problems(self) -> None:
        for p in self.problems:
            p.id = self.condition(p.code, p.status, p.onset_ms, p.recorded_ms, p.abatement_ms, None, self.person.gp)[
                "id"
            ]

    def write_allergies(self) -> None:
        rng, person = self.rng, self.person
        count = rng.choices((0, 1, 2, 3), (60, 25, 10, 5))[0]
        recorded = min(self.hist_start + int(rng.random() * 60 * MS_PER_DAY), self.as_of - MS_PER_HOUR)
        if count == 0:
            if rng.random() < 0.5:
                # An explicit "no known allergies" entry, as intake workflows record it.
                code, display = vocab.NO_KNOWN_ALLERGY
                self._allergy(recorded, {"system": vocab.SNOMED, "code": code, "display": display})
            return
        for allergy in rng.sample(vocab.ALLERGIES, count):
            coding = {"system": allergy.system, "code": allergy.code, "display": allergy.display}
            resource = self._allergy(recorded, coding)
            reaction = rng.choice(allergy.reactions)
            severity = "severe" if reaction in ("39579001", "41291007") else rng.choice(("mild", "moderate"))
            resource["type"] = "allergy"
            resource["category"] = [allergy.category]
            resource["criticality"] = "high" if severity == "severe" else "low"
            resource["onsetDateTime"] = fmt_datetime(
                person.birth_ms + int(rng.random() * max(recorded - person.birth_ms, MS_PER_DAY))
            )
            resource["reaction"] = [
                {
                    "manifestation": [
                        {
                            "coding": [
                                {"system": vocab.SNOMED, "code": reaction, "display": vocab.REACTIONS[reaction]}
                            ],
                            "text": vocab.REACTIONS[reaction],
                        }
                    ],
                    "severity": severity,
                }
            ]
            if rng.random() < 0.1:
                resource["verificationStatus"]["coding"][0].update(code="unconfirmed", display="Unconfirmed")

    def _allergy(self, recorded: int, coding: dict) -> dict:
        resource = {
            "resourceType": "AllergyIntolerance",
            "id": self.new_id(),
            "meta": self.clock.meta(recorded, vocab.PROFILE["AllergyIntolerance"]),
            "clinicalStatus": {"coding": [{"system": vocab.ALLERGY_CLINICAL, "code": "active", "display": "Active"}]},
            "verificationStatus": {
                "coding": [{"system": vocab.ALLERGY_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
            },
            "code": {"coding": [coding], "text": coding["display"]},
            "patient": self.subject(),
            "recordedDate": fmt_datetime(recorded),
            "recorder": self.person.gp.ref(),
        }
        self.out.append(resource)
        self.allergies.append(resource)
        return resource

    # --- visits -------------------------------------------------------------------------------

    def write_visit(self, v: Visit) -> None:
        rng, person = self.rng, self.person
        age = person.age_at(v.start_ms)
        encounter = self._encounter(v)
        diagnosis = None
        if v.acute is not None:
            abatement = v.start_ms + rng.randint(5, 21) * MS_PER_DAY
            status = "resolved" if abatement < self.as_of else "active"
            onset = max(v.start_ms - rng.randint(1, 5) * MS_PER_DAY, person.birth_ms)
            diagnosis = self.condition(
                v.acute, status, onset, v.start_ms, abatement if status == "resolved" else None, v, v.clinician
            )
            encounter["reasonReference"] = [
                {"reference": f"Condition/{diagnosis['id']}", "display": v.acute.snomed_display}
            ]
        elif v.problems:
            encounter["reasonReference"] = [
                {"reference": f"Condition/{p.id}", "display": p.code.snomed_display} for p in v.problems
            ]
        kind = v.kind
        active = [p for p in self.problems if p.active_at(v.start_ms)]
        codes = {p.code.snomed for p in active}
        # Problems this visit looks after: the reason for a follow-up, everything at a check-up.
        addressed = v.problems if kind in ("followup", "virtual") else (active if kind == "wellness" else [])

        # Vital signs: what a medical assistant measures for this kind of visit.
        if kind in ("wellness", "well-child"):
            vitals = ["hr", "rr", "temp", "weight", "height", "spo2"]
            if age >= 3:
                vitals.insert(0, "bp")
            if age >= 2:
                vitals.append("bmi")
            if age < 3:
                vitals.append("head")
        elif kind == "followup":
            vitals = ["bp", "hr", "weight"] if age >= 3 else ["hr", "weight"]
            if codes & RESPIRATORY_OR_CARDIAC:
                vitals.append("spo2")
        elif kind in ("acute", "EMER", "IMP"):
            vitals = ["bp", "hr", "rr", "temp", "spo2"] if age >= 3 else ["hr", "rr", "temp", "spo2"]
            if kind != "acute" or age < 18:
                vitals.append("weight")
        else:  # virtual
            vitals = []
        fever = v.acute is not None and v.acute.snomed in FEVERISH and rng.random() < 0.6
        taken = v.start_ms + rng.randint(3, 12) * MS_PER_MINUTE
        body = self._body(age)
        for name in vitals:
            self._vital(name, v, taken, age, codes, fever, body)
        if kind == "IMP":
            for day in range(1, v.days + 1):
                t = v.start_ms + day * MS_PER_DAY
                if t > v.end_ms:
                    break
                for name in ("bp", "hr", "temp", "spo2"):
                    self._vital(name, v, t, age, codes, False, body)
        if kind in ("wellness", "well-child") and age >= 13:
            self._smoking_status(v, codes)

        # Laboratory orders.
        orders: list[str] = []
        if kind == "wellness":
            if rng.random() < 0.3:
                orders.append(vocab.CMP)
            if rng.random() < 0.25:
                orders.append(vocab.CBC)
            if age >= 20 and rng.random() < 0.25:
                orders.append(vocab.LIPID)
        elif kind in ("EMER", "IMP"):
            if kind == "IMP" or rng.random() < 0.6:
                orders.append(vocab.CBC)
            if kind == "IMP" or rng.random() < 0.4:
                orders.append(vocab.CMP)
        elif kind == "acute" and rng.random() < 0.1:
            orders.append(vocab.CBC)
        chance = 0.5 if kind == "followup" else 0.2
        for p in addressed:
            for test in vocab.CONDITION_LABS.get(p.code.snomed, ()):
                if kind != "virtual" and rng.random() < chance:
                    orders.append(test)
        seen: set[str] = set()
        for test in orders:
            if test not in seen:
                seen.add(test)
                self._lab_order(test, v, codes)

        # Procedures.
        if v.procedure:
            self._procedure(
                v.procedure,
                v,
                v.start_ms + int(rng.uniform(1, 6) * MS_PER_HOUR),
                diagnosis["id"] if diagnosis else None,
            )
        if kind == "wellness":
            for cpt, sex, low, high, chance in vocab.SCREENINGS:
                if (sex is None or sex == person.gender) and low <= age <= high and rng.random() < chance:
                    self._procedure(cpt, v, v.start_ms + 20 * MS_PER_MINUTE, None)
        elif kind == "followup":
            for p in v.problems:
                for cpt in vocab.CONDITION_PROCEDURES.get(p.code.snomed, ()):
                    if rng.random() < 0.15:
                        self._procedure(cpt, v, v.start_ms + 30 * MS_PER_MINUTE, p.id)

        # Medications: short courses for acute problems, renewals of long-term medicines.
        if v.acute is not None and diagnosis is not None:
            for rx in vocab.ACUTE_MEDICATIONS.get(v.acute.snomed, ())[: 1 + (rng.random() < 0.3)]:
                if rx == vocab.ADULT_ACETAMINOPHEN and age < 12:
                    rx = vocab.CHILD_ACETAMINOPHEN
                self._medication(rx, v, diagnosis["id"], v.acute.snomed_display, long_term=False)
        for p in addressed:
            if p.status != "active":
                continue
            for rx in p.regimen:
                self._medication(rx, v, p.id, p.code.snomed_display, long_term=True)

    def _encounter(self, v: Visit) -> dict:
        cls, cls_display, type_code, type_display = vocab.ENCOUNTER_KINDS[v.kind]
        start, end = fmt_datetime(v.start_ms), fmt_datetime(v.end_ms)
        resource = {
            "resourceType": "Encounter",
            "id": v.id,
            "meta": self.clock.meta(v.end_ms, vocab.PROFILE["Encounter"]),
            "identifier": [{"system": vocab.ENCOUNTER_ID_SYSTEM, "value": f"V{v.id.replace('-', '')}"}],
            "status": "finished",
            "class": {"system": vocab.V3_ACT_CODE, "code": cls, "display": cls_display},
            "type": [
                {"coding": [{"system": vocab.SNOMED, "code": type_code, "display": type_display}], "text": type_display}
            ],
            "subject": self.subject(),
            "participant": [
                {
                    "type": [
                        {"coding": [{"system": vocab.V3_PARTICIPATION, "code": "PPRF", "display": "primary performer"}]}
                    ],
                    "period": {"start": start, "end": end},
                    "individual": v.clinician.ref(),
                }
            ],
            "period": {"start": start, "end": end},
            "location": [{"location": v.location.ref(), "status": "completed"}],
            "serviceProvider": v.org.ref(),
        }
        if v.kind in ("EMER", "IMP"):
            resource["hospitalization"] = {
                "dischargeDisposition": {
                    "coding": [{"system": vocab.DISCHARGE_DISPOSITION, "code": "home", "display": "Home"}]
                }
            }
        self.out.append(resource)
        return resource

    def _observation(
        self, v: Visit, effective_ms: int, category: tuple[str, str], profile: str, coding: list[dict], text: str
    ) -> dict:
        resource = {
            "resourceType": "Observation",
            "id": self.new_id(),
            "meta": self.clock.meta(effective_ms, profile),
            "status": "final",
            "category": [
                {
                    "coding": [{"system": vocab.OBSERVATION_CATEGORY, "code": category[0], "display": category[1]}],
                    "text": category[1],
                }
            ],
            "code": {"coding": coding, "text": text},
            "subject": self.subject(),
            "encounter": {"reference": f"Encounter/{v.id}"},
            "effectiveDateTime": fmt_datetime(effective_ms),
        }
        self.out.append(resource)
        return resource

    def _vital(
        self, name: str, v: Visit, t: int, age: float, codes: set[str], fever: bool, body: dict[str, float]
    ) -> None:
        rng, person = self.rng, self.person
        loinc, display, unit, profile = vocab.VITALS[name]
        coding = [{"system": vocab.LOINC, "code": loinc, "display": display}]
        obs = self._observation(v, t, ("vital-signs", "Vital Signs"), vocab.US_CORE + profile, coding, display)
        obs["performer"] = [v.clinician.ref()]
        if name == "bp":
            hypertensive = "59621000" in codes
            if age < 18:
                systolic, diastolic = rng.gauss(96 + age, 8), rng.gauss(58 + age * 0.6, 6)
            else:
                systolic = rng.gauss(112 + 0.4 * (age - 20) + (16 if hypertensive else 0), 11)
                diastolic = rng.gauss(72 + 0.1 * (age - 20) + (8 if hypertensive else 0), 7)
            obs["component"] = [
                {
                    "code": {"coding": [{"system": vocab.LOINC, "code": code, "display": disp}], "text": disp},
                    "valueQuantity": {"value": round(value), "unit": "mmHg", "system": vocab.UCUM, "code": "mm[Hg]"},
                }
                for (code, disp), value in (
                    (vocab.VITAL_SYSTOLIC, systolic),
                    (vocab.VITAL_DIASTOLIC, min(diastolic, systolic - 20)),
                )
            ]
            return
        if name == "spo2":
            obs["code"]["coding"].append(
                {"system": vocab.LOINC, "code": vocab.SPO2_GENERIC[0], "display": vocab.SPO2_GENERIC[1]}
            )
            low = bool(codes & RESPIRATORY_OR_CARDIAC) or (v.acute is not None and v.acute.snomed == "233604007")
            value, shown = min(100, round(rng.gauss(93 if low else 97.6, 2 if low else 1.1))), "%"
        elif name == "hr":
            mean = 130 if age < 1 else 105 if age < 6 else 88 if age < 12 else 72
            value, shown = round(rng.gauss(mean + (14 if fever else 0), 9)), "/min"
        elif name == "rr":
            mean = 34 if age < 1 else 24 if age < 6 else 19 if age < 12 else 15
            value, shown = max(8, round(rng.gauss(mean + (3 if fever else 0), 2))), "/min"
        elif name == "temp":
            value, shown = round(rng.gauss(38.5, 0.4) if fever else rng.gauss(36.8, 0.25), 1), "C"
        elif name in body:  # height, weight, BMI
            value, shown = body[name], unit
        else:  # head circumference
            value, shown = round(interpolate(HEAD_CM, age) + person.height_z * 1.2, 1), "cm"
        obs["valueQuantity"] = {"value": value, "unit": shown, "system": vocab.UCUM, "code": unit}

    def _body(self, age: float) -> dict[str, float]:
        """Height, weight and BMI at this age, consistent with each other (BMI = kg / m²)."""
        person = self.person
        height = interpolate(HEIGHT_CM[person.gender], age) * (1 + 0.04 * person.height_z)
        # A person's build shows gradually through childhood.
        adult_share = min(1.0, max(0.0, (age - 2) / 16))
        bmi = max(12.0, interpolate(BMI, age) + person.bmi_offset * adult_share + self.rng.gauss(0, 0.3))
        weight = round(bmi * (height / 100) ** 2, 1)
        height = round(height, 1)
        return {"height": height, "weight": weight, "bmi": round(weight / (height / 100) ** 2, 1)}

    def _smoking_status(self, v: Visit, codes: set[str]) -> None:
        if "449868002" in codes:
            value = vocab.SMOKING_VALUES[2]
        else:
            value = self.rng.choices(vocab.SMOKING_VALUES, (80, 15, 0, 5))[0]
        coding = [{"system": vocab.LOINC, "code": vocab.SMOKING_STATUS[0], "display": vocab.SMOKING_STATUS[1]}]
        obs = self._observation(
            v,
            v.start_ms + 10 * MS_PER_MINUTE,
            ("social-history", "Social History"),
            vocab.PROFILE["smoking"],
            coding,
            vocab.SMOKING_STATUS[1],
        )
        obs["valueCodeableConcept"] = {
            "coding": [{"system": vocab.SNOMED, "code": value[0], "display": value[1]}],
            "text": value[1],
        }

    def _lab_order(self, code: str, v: Visit, codes: set[str]) -> None:
        rng = self.rng
        collected = v.start_ms + rng.randint(10, 50) * MS_PER_MINUTE
        issued = collected + int(rng.uniform(1, 30) * MS_PER_HOUR)
        issued = min(issued, self.as_of - MS_PER_MINUTE)
        panel = vocab.LAB_PANELS.get(code)
        members = panel[1] if panel else (code,)
        display = panel[0] if panel else vocab.LAB_TESTS[code].display
        effects: dict[str, tuple[float, float]] = {}
        for snomed in codes:
            effect = vocab.CONDITION_LAB_EFFECTS.get(snomed)
            if effect:
                effects.update(effect)
        results = []
        for loinc in members:
            obs_id = self._lab_result(vocab.LAB_TESTS[loinc], v, collected, issued, effects)
            results.append({"reference": f"Observation/{obs_id}"})
        self.out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": self.new_id(),
                "meta": self.clock.meta(issued, vocab.PROFILE["DiagnosticReport"]),
                "status": "final",
                "category": [
                    {
                        "coding": [{"system": vocab.V2_0074, "code": "LAB", "display": "Laboratory"}],
                        "text": "Laboratory",
                    }
                ],
                "code": {"coding": [{"system": vocab.LOINC, "code": code, "display": display}], "text": display},
                "subject": self.subject(),
                "encounter": {"reference": f"Encounter/{v.id}"},
                "effectiveDateTime": fmt_datetime(collected),
                "issued": fmt_instant(issued),
                "performer": [self.lab_org.ref()],
                "result": results,
            }
        )

    def _lab_result(
        self, test: vocab.LabTest, v: Visit, collected: int, issued: int, effects: dict[str, tuple[float, float]]
    ) -> str:
        mean, sd = effects.get(test.loinc, (test.mean, test.sd))
        raw = max(self.rng.gauss(mean, sd), mean * 0.15)
        value: float = round(raw, test.decimals) if test.decimals else round(raw)
        coding = [{"system": vocab.LOINC, "code": test.loinc, "display": test.display}]
        obs = self._observation(v, collected, ("laboratory", "Laboratory"), vocab.PROFILE["lab"], coding, test.display)
        obs["meta"] = self.clock.meta(issued, vocab.PROFILE["lab"])
        obs["issued"] = fmt_instant(issued)
        obs["performer"] = [self.lab_org.ref()]
        obs["valueQuantity"] = {"value": value, "unit": test.unit, "system": vocab.UCUM, "code": test.ucum}
        flag = "N"
        if test.low is not None and value < test.low:
            flag = "L"
        elif test.high is not None and value > test.high:
            flag = "H"
        obs["interpretation"] = [
            {"coding": [{"system": vocab.V3_INTERPRETATION, "code": flag, "display": vocab.INTERPRETATION[flag]}]}
        ]
        reference_range: dict = {}
        if test.low is not None:
            reference_range["low"] = {"value": test.low, "unit": test.unit, "system": vocab.UCUM, "code": test.ucum}
        if test.high is not None:
            reference_range["high"] = {"value": test.high, "unit": test.unit, "system": vocab.UCUM, "code": test.ucum}
        reference_range["text"] = (
            f"{test.low}-{test.high} {test.unit}"
            if test.low is not None and test.high is not None
            else f"<{test.high} {test.unit}"
            if test.high is not None
            else f">{test.low} {test.unit}"
        )
        obs["referenceRange"] = [reference_range]
        return obs["id"]

    def _procedure(self, cpt: str, v: Visit, performed_ms: int, reason_id: str | None) -> None:
        cpt_display, snomed, snomed_display = vocab.PROCEDURES[cpt]
        performed_ms = min(performed_ms, v.end_ms)
        resource = {
            "resourceType": "Procedure",
            "id": self.new_id(),
            "meta": self.clock.meta(performed_ms, vocab.PROFILE["Procedure"]),
            "status": "completed",
            "code": {
                "coding": [
                    {"system": vocab.CPT, "code": cpt, "display": cpt_display},
                    {"system": vocab.SNOMED, "code": snomed, "display": snomed_display},
                ],
                "text": snomed_display,
            },
            "subject": self.subject(),
            "encounter": {"reference": f"Encounter/{v.id}"},
            "performedDateTime": fmt_datetime(performed_ms),
            "performer": [{"actor": v.clinician.ref()}],
            "location": v.location.ref(),
        }
        if reason_id:
            resource["reasonReference"] = [{"reference": f"Condition/{reason_id}"}]
        self.out.append(resource)

    def _medication(self, rx: str, v: Visit, reason_id: str, reason_display: str, long_term: bool) -> None:
        med = vocab.MEDICATIONS[rx]
        previous = self.meds.get(rx) if long_term else None
        if previous is not None:
            # Renew about once a year; in between, the existing order stands.
            if v.start_ms - previous[0] < 300 * MS_PER_DAY:
                return
            previous[1]["status"] = "completed"
        authored = v.start_ms + 15 * MS_PER_MINUTE
        course_over = authored + 14 * MS_PER_DAY < self.as_of
        resource = {
            "resourceType": "MedicationRequest",
            "id": self.new_id(),
            "meta": self.clock.meta(authored, vocab.PROFILE["MedicationRequest"]),
            "status": "active" if long_term or not course_over else "completed",
            "intent": "order",
            "category": [
                {
                    "coding": [
                        {
                            "system": vocab.MEDREQ_CATEGORY,
                            "code": "inpatient" if v.kind == "IMP" else "outpatient",
                            "display": "Inpatient" if v.kind == "IMP" else "Outpatient",
                        }
                    ]
                }
            ],
            "medicationCodeableConcept": {
                "coding": [{"system": vocab.RXNORM, "code": rx, "display": med.display}],
                "text": med.display,
            },
            "subject": self.subject(),
            "encounter": {"reference": f"Encounter/{v.id}"},
            "authoredOn": fmt_datetime(authored),
            "requester": v.clinician.ref(),
            "reasonReference": [{"reference": f"Condition/{reason_id}", "display": reason_display}],
            "dosageInstruction": [self._dosage(med)],
        }
        if long_term:
            resource["dispenseRequest"] = {
                "numberOfRepeatsAllowed": 3,
                "expectedSupplyDuration": {"value": 90, "unit": "days", "system": vocab.UCUM, "code": "d"},
            }
            self.meds[rx] = (v.start_ms, resource)
        self.out.append(resource)

    @staticmethod
    def _dosage(med: vocab.Medication) -> dict:
        dosage = {
            "sequence": 1,
            "text": med.sig,
            "timing": {"repeat": {"frequency": med.frequency, "period": med.period, "periodUnit": med.period_unit}},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": med.dose,
                        "unit": _DOSE_UNITS[med.dose_unit],
                        "system": vocab.UCUM,
                        "code": med.dose_unit,
                    }
                }
            ],
        }
        if med.as_needed:
            dosage["asNeededBoolean"] = True
        return dosage

    def write_reported_medications(self) -> None:
        """Long-term medicines of problems never seen in a visit: patient-reported, intent `plan`."""
        for p in self.problems:
            if p.status != "active":
                continue
            for rx in p.regimen:
                if rx in self.meds:
                    continue
                med = vocab.MEDICATIONS[rx]
                authored = max(p.recorded_ms, self.hist_start)
                resource = {
                    "resourceType": "MedicationRequest",
                    "id": self.new_id(),
                    "meta": self.clock.meta(authored, vocab.PROFILE["MedicationRequest"]),
                    "status": "active",
                    "intent": "plan",
                    "category": [
                        {"coding": [{"system": vocab.MEDREQ_CATEGORY, "code": "community", "display": "Community"}]}
                    ],
                    "reportedBoolean": True,
                    "medicationCodeableConcept": {
                        "coding": [{"system": vocab.RXNORM, "code": rx, "display": med.display}],
                        "text": med.display,
                    },
                    "subject": self.subject(),
                    "authoredOn": fmt_datetime(authored),
                    "requester": self.person.gp.ref(),
                    "reasonReference": [{"reference": f"Condition/{p.id}", "display": p.code.snomed_display}],
                    "dosageInstruction": [self._dosage(med)],
                }
                self.meds[rx] = (authored, resource)
                self.out.append(resource)

    # --- immunizations and care plans ---------------------------------------------------------

    def write_immunizations(self) -> None:
        rng, person, as_of = self.rng, self.person, self.as_of
        doses: list[tuple[int, tuple[str, str]]] = []
        # Childhood records older than 30 years rarely survive a move between systems.
        oldest = as_of - 30 * MS_PER_YEAR
        for cvx, display, ages in vocab.CHILDHOOD_VACCINES:
            for days in ages:
                t = person.birth_ms + (days + rng.randint(0, 20)) * MS_PER_DAY
                if oldest <= t < as_of and rng.random() < 0.93:
                    doses.append((t, (cvx, display)))
        first_season = (self.hist_start // MS_PER_YEAR) * MS_PER_YEAR  # rough 1 January
        flu_rate = 0.4 if 18 <= person.age < 65 else 0.65
        season = first_season + 280 * MS_PER_DAY  # early October
        while season < as_of:
            if person.age_at(season) >= 0.5 and rng.random() < flu_rate:
                doses.append((season + rng.randint(0, 50) * MS_PER_DAY, vocab.FLU_VACCINE))
            season += MS_PER_YEAR
        covid_start = 1_618_000_000_000  # April 2021
        if person.age_at(covid_start) >= 12 and rng.random() < 0.65 and covid_start < as_of:
            doses.append((covid_start + rng.randint(0, 60) * MS_PER_DAY, vocab.COVID_VACCINE))
            doses.append((covid_start + rng.randint(81, 100) * MS_PER_DAY, vocab.COVID_VACCINE))
        for decade in range(25, int(person.age) + 1, 10):
            if rng.random() < 0.6:
                doses.append((person.birth_ms + int((decade + rng.random()) * MS_PER_YEAR), vocab.TD_VACCINE))
        if person.age >= 50 and rng.random() < 0.4:
            t = max(person.birth_ms + 50 * MS_PER_YEAR, 1_530_000_000_000) + rng.randint(0, 700) * MS_PER_DAY
            doses += [(t, vocab.ZOSTER_VACCINE), (t + rng.randint(60, 180) * MS_PER_DAY, vocab.ZOSTER_VACCINE)]
        if person.age >= 65 and rng.random() < 0.6:
            doses.append((person.birth_ms + int((65 + rng.random()) * MS_PER_YEAR), vocab.PPV23_VACCINE))

        clinic = person.home_org
        for t, (cvx, display) in sorted(doses):
            if not oldest <= t < as_of - MS_PER_DAY:
                continue
            t = self._office_time(t)
            resource = {
                "resourceType": "Immunization",
                "id": self.new_id(),
                "meta": self.clock.meta(t, vocab.PROFILE["Immunization"]),
                "status": "completed",
                "vaccineCode": {"coding": [{"system": vocab.CVX, "code": cvx, "display": display}], "text": display},
                "patient": self.subject(),
                "occurrenceDateTime": fmt_datetime(t),
                "primarySource": t >= self.hist_start,
            }
            if t >= self.hist_start:
                resource["location"] = clinic.locations[0].ref()
                resource["lotNumber"] = f"{rng.choice('ABCDEFGHJK')}{rng.randint(1000, 9999)}{rng.choice('XYZ')}"
                resource["performer"] = [
                    {
                        "function": {
                            "coding": [{"system": vocab.V2_0443, "code": "AP", "display": "Administering Provider"}]
                        },
                        "actor": person.gp.ref(),
                    }
                ]
            else:
                resource["reportOrigin"] = {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/immunization-origin",
                            "code": "record",
                            "display": "Written Record",
                        }
                    ]
                }
            self.out.append(resource)
            self.vaccines.append(resource)

    def write_care_plans(self) -> None:
        for p in self.problems:
            plan = vocab.CARE_PLANS.get(p.code.snomed)
            if plan is None or p.status != "active":
                continue
            code, display, activities = plan
            created = max(p.recorded_ms, self.hist_start)
            resource = {
                "resourceType": "CarePlan",
                "id": self.new_id(),
                "meta": self.clock.meta(created, vocab.PROFILE["CarePlan"]),
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{display}: '
                    f"{', '.join(a[1] for a in activities)}.</p></div>",
                },
                "status": "active",
                "intent": "plan",
                "category": [
                    {
                        "coding": [
                            {
                                "system": vocab.US_CORE_CAREPLAN_CATEGORY,
                                "code": "assess-plan",
                                "display": "Assessment and Plan of Treatment",
                            }
                        ]
                    },
                    {"coding": [{"system": vocab.SNOMED, "code": code, "display": display}], "text": display},
                ],
                "title": display,
                "subject": self.subject(),
                "period": {"start": fmt_datetime(created)},
                "created": fmt_datetime(created),
                "author": self.person.gp.ref(),
                "addresses": [{"reference": f"Condition/{p.id}", "display": p.code.snomed_display}],
                "activity": [
                    {
                        "detail": {
                            "code": {
                                "coding": [{"system": vocab.SNOMED, "code": a_code, "display": a_display}],
                                "text": a_display,
                            },
                            "status": "in-progress",
                            "location": self.person.home_org.locations[0].ref(),
                        }
                    }
                    for a_code, a_display in activities
                ],
            }
            self.out.append(resource)

"""HL7 v2 tables and their FHIR targets, as data.

Each map follows the HL7 v2-to-FHIR implementation guide's concept map of the same name
(``table-hl70001-to-administrative-gender``, ``table-hl70004-to-v3-actcode``, ...); where we
deviate, the line says why. Outbound (FHIR -> v2) maps are the inverses defined at the bottom.
"""

from __future__ import annotations

V2 = "http://terminology.hl7.org/CodeSystem/v2-"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SSN = "http://hl7.org/fhir/sid/us-ssn"
NPI = "http://hl7.org/fhir/sid/us-npi"
CDC_RACE = "urn:oid:2.16.840.1.113883.6.238"

#: HL7 table 0396 coding-system names (CWE.3) -> FHIR code system URIs.
CODING_SYSTEMS: dict[str, str] = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNM3": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    # US senders mean ICD-10-CM by I10 nearly always; WHO ICD-10 users should map I10 per sender.
    "I10": "http://hl7.org/fhir/sid/icd-10-cm",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I10P": "http://www.cms.gov/Medicare/Coding/ICD10",
    "ICD10PCS": "http://www.cms.gov/Medicare/Coding/ICD10",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "RXN": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "MVX": "http://hl7.org/fhir/sid/mvx",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "CPT4": "http://www.ama-assn.org/go/cpt",
    "C4": "http://www.ama-assn.org/go/cpt",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "HCPCS": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "HCPT": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "UCUM": UCUM,
    "UCUM_": UCUM,
    "ANS+": UCUM,
    "CDCREC": CDC_RACE,
    "ISO639": "urn:ietf:bcp:47",
    "ISO+": "urn:iso:std:iso:2955",
    "NUCC": "http://nucc.org/provider-taxonomy",
    "NPI": NPI,
    "FDDX": "http://fdbhealth.com/fhir/CodeSystem/fdb-dx",
    "ISO3166": "urn:iso:std:iso:3166",
}

#: Coding-system names that mean "local to the sender": kept as codes without a system.
LOCAL_CODING_SYSTEMS = frozenset({"L", "LOCAL", "99LOCAL"})

#: Assigning authorities (HD.1 or HD.2) whose identifiers have a well-known FHIR system.
AUTHORITY_SYSTEMS: dict[str, str] = {
    "USSSA": SSN,
    "SSA": SSN,
    "SSN": SSN,
    "2.16.840.1.113883.4.1": SSN,
    "NPI": NPI,
    "2.16.840.1.113883.4.6": NPI,
}

#: Identifier type codes (HL7 table 0203) we pass on as v2-0203 codings; others become text.
IDENTIFIER_TYPES: dict[str, str] = {
    "AN": "Account number",
    "BR": "Birth registry number",
    "DL": "Driver's license number",
    "DN": "Doctor number",
    "EI": "Employee number",
    "EN": "Employer number",
    "FILL": "Filler Identifier",
    "JHN": "Jurisdictional health number",
    "MA": "Patient Medicaid number",
    "MC": "Patient's Medicare number",
    "MCN": "Microchip Number",
    "MR": "Medical record number",
    "NI": "National unique individual identifier",
    "NIIP": "National Insurance Payor Identifier (Payor)",
    "NPI": "National provider identifier",
    "PI": "Patient internal identifier",
    "PLAC": "Placer Identifier",
    "PN": "Person number",
    "PPN": "Passport number",
    "PRN": "Provider number",
    "PT": "Patient external identifier",
    "SN": "Subscriber Number",
    "SS": "Social Security number",
    "TAX": "Tax ID number",
    "U": "Unspecified identifier",
    "VN": "Visit number",
    "XX": "Organization identifier",
}

#: Codes of user-defined tables we can vouch for: a code sent without CWE.3 gets the table's system
#: only when listed here. HL7-defined tables (not listed) accept any code sent.
# fmt: off
TABLE_CODES: dict[str, frozenset[str]] = {
    "0007": frozenset(["A", "C", "E", "L", "N", "R", "U"]),
    "0023": frozenset(["1", "2", "3", "4", "5", "6", "7", "8", "9"]),
    "0063": frozenset([
        "ASC", "BRO", "CGV", "CHD", "DEP", "DOM", "EMC", "EME", "EMR", "EXF", "FCH", "FND", "FTH", "GCH", "GRD",
        "GRP", "MGR", "MTH", "NCH", "NON", "OAD", "OTH", "OWN", "PAR", "SCH", "SEL", "SIB", "SIS", "SPO", "TRA",
        "UNK", "WRD",
    ]),
    "0069": frozenset(["CAR", "MED", "PUL", "SUR", "URO"]),
    "0086": frozenset(),
    "0112": frozenset(["01", "02", "03", "04", "05", "06", "07", "08", "09", "20", "30", "40", "41", "42"]),
    "0131": frozenset(["C", "E", "F", "I", "N", "O", "S", "U"]),
    "0276": frozenset(["CHECKUP", "EMERGENCY", "FOLLOWUP", "ROUTINE", "WALKIN"]),
    "0277": frozenset(["Complete", "Normal", "Tentative"]),
}
# fmt: on

#: Table 0001 administrative sex -> administrative-gender.
GENDER: dict[str, str] = {
    "F": "female",
    "M": "male",
    "O": "other",
    "U": "unknown",
    "A": "other",
    "N": "other",
    # X (non-binary) arrived in v2.9 and is sent by earlier-version feeds already.
    "X": "other",
}

#: Table 0200 name type -> HumanName.use (codes without a use keep none).
NAME_USE: dict[str, str] = {
    "L": "official",
    "D": "usual",
    "N": "nickname",
    "M": "maiden",
    "S": "anonymous",
    "TEMP": "temp",
    "T": "temp",
    "BAD": "old",
    "NOUSE": "old",
}

#: Table 0190 address type -> (Address.use, Address.type).
ADDRESS_USE: dict[str, tuple[str | None, str | None]] = {
    "H": ("home", None),
    "B": ("work", None),
    "O": ("work", None),
    "C": ("temp", None),
    "BA": ("old", None),
    "M": (None, "postal"),
    "SH": (None, "postal"),
    "P": ("home", None),
    "L": ("home", None),
    "RH": ("home", None),
}

#: Table 0201 telecommunication use -> ContactPoint.use.
TELECOM_USE: dict[str, str] = {
    "PRN": "home",
    "ORN": "home",
    "VHN": "home",
    "WPN": "work",
    "ASN": "work",
    "PRS": "mobile",
    "EMR": "home",
    "NET": "home",
    "BPN": "work",
}

#: Table 0202 telecommunication equipment type -> (ContactPoint.system, use override).
TELECOM_EQUIPMENT: dict[str, tuple[str, str | None]] = {
    "PH": ("phone", None),
    "CP": ("phone", "mobile"),
    "FX": ("fax", None),
    "BP": ("pager", None),
    "MD": ("other", None),
    "TDD": ("other", None),
    "TTY": ("other", None),
    "SAT": ("phone", None),
    "Internet": ("email", None),
    "X.400": ("email", None),
}

#: Table 0004 patient class -> Encounter.class (v3 ActCode where the IG maps one, else v2-0004).
ENCOUNTER_CLASS: dict[str, tuple[str, str, str]] = {
    "E": (V3_ACT_CODE, "EMER", "emergency"),
    "I": (V3_ACT_CODE, "IMP", "inpatient encounter"),
    "O": (V3_ACT_CODE, "AMB", "ambulatory"),
    "P": (V3_ACT_CODE, "PRENC", "pre-admission"),
    "R": (V2 + "0004", "R", "Recurring patient"),
    "B": (V2 + "0004", "B", "Obstetrics"),
    "C": (V2 + "0004", "C", "Commercial Account"),
    "N": (V2 + "0004", "N", "Not Applicable"),
    "U": (V2 + "0004", "U", "Unknown"),
}

#: Spelled-out patient classes some senders (Cerner among them) put in PV1-2.
PATIENT_CLASS_ALIASES: dict[str, str] = {
    "INPATIENT": "I",
    "OUTPATIENT": "O",
    "EMERGENCY": "E",
    "PREADMIT": "P",
    "RECURRING": "R",
    "OBSTETRICS": "B",
}

#: Trigger event -> Encounter.status. A08 is an update: its status comes from the PV1 dates.
ENCOUNTER_STATUS: dict[str, str] = {
    "A01": "in-progress",
    "A02": "in-progress",
    "A03": "finished",
    "A04": "in-progress",
    "A05": "planned",
    "A06": "in-progress",
    "A07": "in-progress",
    "A11": "cancelled",
    "A12": "in-progress",
    "A13": "in-progress",
    "A14": "planned",
    "A21": "onleave",
    "A22": "in-progress",
    "A27": "cancelled",
    "A38": "cancelled",
}

#: Table 0002 marital status -> v3 MaritalStatus (v2 U is "unknown", v3 U is "unmarried").
MARITAL_STATUS: dict[str, tuple[str, str, str]] = {
    "A": (V3_MARITAL, "L", "Legally Separated"),
    "B": (V3_MARITAL, "U", "unmarried"),
    "C": (V3_MARITAL, "T", "Domestic partner"),
    "D": (V3_MARITAL, "D", "Divorced"),
    "E": (V3_MARITAL, "L", "Legally Separated"),
    "G": (V3_MARITAL, "T", "Domestic partner"),
    "I": (V3_MARITAL, "I", "Interlocutory"),
    "M": (V3_MARITAL, "M", "Married"),
    "N": (V3_MARITAL, "A", "Annulled"),
    "P": (V3_MARITAL, "T", "Domestic partner"),
    "R": (V3_MARITAL, "T", "Domestic partner"),
    "S": (V3_MARITAL, "S", "Never Married"),
    "T": (V3_MARITAL, "U", "unmarried"),
    "W": (V3_MARITAL, "W", "Widowed"),
    "O": (V3_NULL_FLAVOR, "OTH", "other"),
    "U": (V3_NULL_FLAVOR, "UNK", "unknown"),
}

#: Table 0063 relationship -> v3 RoleCode (codes not listed keep their v2-0063 coding).
RELATIONSHIP: dict[str, str] = {
    "SPO": "SPS",
    "DOM": "DOMPART",
    "CHD": "CHILD",
    "PAR": "PRN",
    "MTH": "MTH",
    "FTH": "FTH",
    "SIB": "SIB",
    "BRO": "BRO",
    "SIS": "SIS",
    "GRD": "GUARD",
    "FND": "FRND",
    "GCH": "GRNDCHILD",
    "GRP": "GRPRN",
    "SCH": "STPCHLD",
    "FCH": "CHLDFOST",
    "NCH": "NCHILD",
    "EXF": "EXT",
    "OTH": "O",
}

#: Table 0063 -> Coverage.relationship (subscriber-relationship code system).
SUBSCRIBER_RELATIONSHIP: dict[str, str] = {
    "SEL": "self",
    "SPO": "spouse",
    "DOM": "common",
    "CHD": "child",
    "PAR": "parent",
    "OTH": "other",
}

#: Table 0127 allergen type -> (AllergyIntolerance.category, AllergyIntolerance.type).
ALLERGY_TYPE: dict[str, tuple[str | None, str | None]] = {
    "DA": ("medication", "allergy"),
    "FA": ("food", "allergy"),
    "MA": (None, "allergy"),
    "MC": (None, None),
    "EA": ("environment", "allergy"),
    "AA": ("environment", "allergy"),
    "PA": ("environment", "allergy"),
    "LA": ("environment", "allergy"),
    "DI": ("medication", "intolerance"),
    "FI": ("food", "intolerance"),
    "MI": (None, "intolerance"),
}

#: Table 0128 allergy severity -> (criticality, reaction severity).
ALLERGY_SEVERITY: dict[str, tuple[str, str | None]] = {
    "SV": ("high", "severe"),
    "MO": ("low", "moderate"),
    "MI": ("low", "mild"),
    "U": ("unable-to-assess", None),
}

#: Table 0438 allergy clinical status (IAM-17) -> (clinicalStatus, verificationStatus).
ALLERGY_CLINICAL_STATUS: dict[str, tuple[str | None, str]] = {
    "U": ("active", "unconfirmed"),
    "P": ("active", "unconfirmed"),
    "S": ("active", "unconfirmed"),
    "C": ("active", "confirmed"),
    "I": ("inactive", "confirmed"),
    "E": (None, "entered-in-error"),
    "D": (None, "refuted"),
}

#: Table 0052 diagnosis type -> Condition.verificationStatus.
DIAGNOSIS_VERIFICATION: dict[str, str] = {"A": "provisional", "W": "provisional", "F": "confirmed"}

#: Table 0119 order control -> ServiceRequest.status (used when ORC-5 is empty).
#: The IG maps CA to "active" (a cancel *request*); a receiving store sees the order as revoked.
ORDER_CONTROL_STATUS: dict[str, str] = {
    "NW": "active",
    "OK": "active",
    "SC": "active",
    "SN": "active",
    "XO": "active",
    "XX": "active",
    "RP": "active",
    "RO": "active",
    "RE": "active",
    "PA": "active",
    "CA": "revoked",
    "CR": "revoked",
    "OC": "revoked",
    "DC": "revoked",
    "DR": "revoked",
    "OD": "revoked",
    "UC": "active",
    "HD": "on-hold",
    "OH": "on-hold",
    "HR": "on-hold",
    "RL": "active",
    "OR": "active",
    "OE": "active",
}

#: Table 0038 order status (ORC-5) -> ServiceRequest.status.
ORDER_STATUS: dict[str, str] = {
    "A": "active",
    "CA": "revoked",
    "CM": "completed",
    "DC": "revoked",
    "ER": "entered-in-error",
    "HD": "on-hold",
    "IP": "active",
    "RP": "revoked",
    "SC": "active",
}

#: Table 0123 result status (OBR-25) -> DiagnosticReport.status.
REPORT_STATUS: dict[str, str] = {
    "O": "registered",
    "I": "registered",
    "S": "registered",
    "A": "partial",
    "P": "preliminary",
    "R": "preliminary",
    "N": "preliminary",
    "C": "corrected",
    "M": "amended",
    "F": "final",
    "X": "cancelled",
    "Y": "unknown",
    "Z": "unknown",
}

#: Table 0085 observation result status (OBX-11) -> Observation.status.
OBSERVATION_STATUS: dict[str, str] = {
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "I": "registered",
    "N": "cancelled",
    "O": "registered",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "W": "entered-in-error",
    "X": "cancelled",
    "A": "amended",
    "B": "amended",
}

#: Table 0078 abnormal flags that exist unchanged in v3 ObservationInterpretation.
INTERPRETATION: dict[str, str] = {
    "<": "Off scale low",
    ">": "Off scale high",
    "A": "Abnormal",
    "AA": "Critical abnormal",
    "AC": "Anti-complementary substances present",
    "B": "Better",
    "CAR": "Carrier",
    "D": "Significant change down",
    "DET": "Detected",
    "E": "Equivocal",
    "EX": "outside threshold",
    "EXP": "Expected",
    "H": "High",
    "H>": "Significantly high",
    "HH": "Critical high",
    "HU": "Significantly high",
    "HX": "above high threshold",
    "I": "Intermediate",
    "IE": "Insufficient evidence",
    "IND": "Indeterminate",
    "L": "Low",
    "L<": "Significantly low",
    "LL": "Critical low",
    "LU": "Significantly low",
    "LX": "below low threshold",
    "MS": "moderately susceptible",
    "N": "Normal",
    "NCL": "No CLSI defined breakpoint",
    "ND": "Not detected",
    "NEG": "Negative",
    "NR": "Non-reactive",
    "NS": "Non-susceptible",
    "POS": "Positive",
    "QCF": "Quality control failure",
    "R": "Resistant",
    "RR": "Reactive",
    "S": "Susceptible",
    "SDD": "Susceptible-dose dependent",
    "SYN-R": "Synergy - resistant",
    "SYN-S": "Synergy - susceptible",
    "TOX": "Cytotoxic substance present",
    "U": "Significant change up",
    "UNE": "Unexpected",
    "VS": "very susceptible",
    "W": "Worse",
    "WR": "Weakly reactive",
}

#: Displays of table codes we write ourselves (identifier types of placer/filler numbers...).
TABLE_DISPLAYS: dict[str, dict[str, str]] = {"0203": IDENTIFIER_TYPES}

#: Table 0074 diagnostic service section (OBR-24) -> observation-category.
# fmt: off
SERVICE_SECTION_CATEGORY: dict[str, str] = {
    **dict.fromkeys(("LAB", "CH", "HM", "MB", "MCB", "MYC", "PAR", "SR", "BLB", "CP", "IMM", "SP", "TX", "URN", "VR",
                     "BG", "CG", "HLA", "OSL"), "laboratory"),
    **dict.fromkeys(("RAD", "CT", "CUS", "MR", "NMR", "NMS", "RUS", "XRC", "VUS", "OUS"), "imaging"),
    **dict.fromkeys(("EC", "EN", "CTH", "ICU", "PF", "PHY", "VS"), "procedure"),
}
# fmt: on

#: LOINC codes of the vital signs profile: their observations get the vital-signs category.
# fmt: off
VITAL_SIGNS_LOINC = frozenset({
    "85353-1", "9279-1", "8867-4", "2708-6", "59408-5", "8310-5", "8302-2", "9843-4", "29463-7", "39156-5",
    "85354-9", "8480-6", "8462-4", "8287-5", "3140-1",
})
# fmt: on

#: Priority codes (TQ.6 / TQ1-9, table 0485) -> request priority.
PRIORITY: dict[str, str] = {"S": "stat", "A": "asap", "R": "routine", "T": "urgent", "C": "urgent", "PRN": "routine"}

#: Table 0271 document completion status (TXA-17) -> DocumentReference.docStatus.
DOC_STATUS: dict[str, str] = {
    "AU": "final",
    "LA": "final",
    "DI": "preliminary",
    "DO": "preliminary",
    "IN": "preliminary",
    "IP": "preliminary",
    "PA": "preliminary",
}

#: Table 0273 document availability (TXA-19) -> DocumentReference.status.
DOC_AVAILABILITY: dict[str, str] = {"AV": "current", "UN": "current", "OB": "superseded", "CA": "entered-in-error"}

#: Table 0272 document confidentiality (TXA-18) -> v3 Confidentiality.
CONFIDENTIALITY: dict[str, tuple[str, str]] = {
    "V": ("V", "very restricted"),
    "R": ("R", "restricted"),
    "U": ("N", "normal"),
}

#: SIU trigger -> Appointment.status (S14 "modified" is still a booked appointment).
APPOINTMENT_STATUS: dict[str, str] = {
    "S12": "booked",
    "S13": "booked",
    "S14": "booked",
    "S15": "cancelled",
    "S16": "cancelled",
    "S17": "entered-in-error",
    "S26": "noshow",
}

#: Table 0278 filler status (SCH-25), used for the other SIU triggers.
FILLER_STATUS: dict[str, str] = {
    "BOOKED": "booked",
    "CANCELLED": "cancelled",
    "COMPLETE": "fulfilled",
    "DC": "cancelled",
    "DELETED": "entered-in-error",
    "NOSHOW": "noshow",
    "OVERBOOK": "booked",
    "PENDING": "pending",
    "STARTED": "arrived",
    "WAITLIST": "waitlist",
}

#: Duration units (SCH-10, AIS-8, ...) -> minutes per unit.
DURATION_MINUTES: dict[str, float] = {
    "MIN": 1,
    "M": 1,
    "S": 1 / 60,
    "SEC": 1 / 60,
    "H": 60,
    "HR": 60,
    "HOUR": 60,
    "D": 1440,
    "DAY": 1440,
}

#: ED.2 type of data / ED.3 subtype (v2 names) -> MIME type.
ED_SUBTYPES: dict[str, str] = {
    "PDF": "application/pdf",
    "RTF": "application/rtf",
    "HTML": "text/html",
    "XML": "application/xml",
    "JPEG": "image/jpeg",
    "JPG": "image/jpeg",
    "GIF": "image/gif",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "DICOM": "application/dicom",
    "MSWORD": "application/msword",
    "PLAIN": "text/plain",
    "TEXT": "text/plain",
}
MIME_TOP_LEVEL = frozenset({"application", "audio", "image", "text", "video", "multipart", "model"})
ED_TYPES: dict[str, str] = {"AP": "application", "AU": "audio", "IM": "image", "TEXT": "text", "TX": "text"}

#: Table 0443 provider role (PRT-4, ROL-3) -> v3 ParticipationType, for Encounter.participant.
PARTICIPATION: dict[str, tuple[str, str]] = {
    "AT": ("ATND", "attender"),
    "AD": ("ADM", "admitter"),
    "RP": ("REF", "referrer"),
    "CP": ("CON", "consultant"),
    "PP": ("PPRF", "primary performer"),
}

# -- outbound (FHIR -> v2) ---------------------------------------------------------------------

GENDER_TO_V2: dict[str, str] = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
NAME_USE_TO_V2: dict[str, str] = {
    "official": "L",
    "usual": "D",
    "nickname": "N",
    "maiden": "M",
    "anonymous": "S",
    "temp": "TEMP",
    "old": "NOUSE",
}
ADDRESS_USE_TO_V2: dict[str, str] = {"home": "H", "work": "B", "temp": "C", "old": "BA", "billing": "BI"}
TELECOM_USE_TO_V2: dict[str, str] = {"home": "PRN", "work": "WPN", "mobile": "PRN", "temp": "VHN"}
TELECOM_SYSTEM_TO_V2: dict[str, str] = {
    "phone": "PH",
    "fax": "FX",
    "pager": "BP",
    "email": "Internet",
    "other": "MD",
    "url": "Internet",
    "sms": "CP",
}
ENCOUNTER_CLASS_TO_V2: dict[str, str] = {
    "EMER": "E",
    "IMP": "I",
    "ACUTE": "I",
    "NONAC": "I",
    "OBSENC": "I",
    "AMB": "O",
    "HH": "O",
    "VR": "O",
    "FLD": "O",
    "PRENC": "P",
    "SS": "O",
}

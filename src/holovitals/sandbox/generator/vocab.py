"""Code tables for the generator: real codes with their real display names, kept as data.

Every table is a module-level tuple (or a dict keyed by code) so a reviewer can check a code
against its terminology without reading any generator logic. Displays are the terminology's
preferred term (SNOMED CT), long common name (LOINC), SCD name (RxNorm), short description (CVX)
or code title (ICD-10-CM, CPT), shortened only where the official text is very long.
"""

from __future__ import annotations

from typing import NamedTuple

# --- code systems -------------------------------------------------------------------------------

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
NPI = "http://hl7.org/fhir/sid/us-npi"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"
V2_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360"
V2_0443 = "http://terminology.hl7.org/CodeSystem/v2-0443"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
MEDREQ_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
US_CORE_DOCREF_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
US_CORE_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
IHE_FORMAT_CODE = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
BCP47 = "urn:ietf:bcp:47"

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
US_CORE_RACE = US_CORE + "us-core-race"
US_CORE_ETHNICITY = US_CORE + "us-core-ethnicity"
US_CORE_BIRTHSEX = US_CORE + "us-core-birthsex"

# Identifier systems of the synthetic hospital. The MRN system is what a client searches with
# (`Patient?identifier=http://hospital.example.org/mrn|...`), so it stays one constant.
MRN_SYSTEM = "http://hospital.example.org/mrn"
ENCOUNTER_ID_SYSTEM = "http://hospital.example.org/encounter"
# State driver's licence numbers use urn:oid:2.16.840.1.113883.4.3.<state FIPS code>.
DRIVERS_LICENSE_OID = "urn:oid:2.16.840.1.113883.4.3."

# US Core 6.1 profile per kind of resource; the generator stamps meta.profile with these.
PROFILE = {
    "Patient": US_CORE + "us-core-patient",
    "Practitioner": US_CORE + "us-core-practitioner",
    "Organization": US_CORE + "us-core-organization",
    "Location": US_CORE + "us-core-location",
    "Encounter": US_CORE + "us-core-encounter",
    "problem": US_CORE + "us-core-condition-problems-health-concerns",
    "diagnosis": US_CORE + "us-core-condition-encounter-diagnosis",
    "lab": US_CORE + "us-core-observation-lab",
    "smoking": US_CORE + "us-core-smokingstatus",
    "MedicationRequest": US_CORE + "us-core-medicationrequest",
    "AllergyIntolerance": US_CORE + "us-core-allergyintolerance",
    "Immunization": US_CORE + "us-core-immunization",
    "Procedure": US_CORE + "us-core-procedure",
    "DiagnosticReport": US_CORE + "us-core-diagnosticreport-lab",
    "DocumentReference": US_CORE + "us-core-documentreference",
    "CarePlan": US_CORE + "us-core-careplan",
}


# --- conditions ---------------------------------------------------------------------------------


class ConditionCode(NamedTuple):
    snomed: str
    snomed_display: str
    icd10: str
    icd10_display: str
    # Chronic: probability of having it, per age band (0-17, 18-64, 65+). Acute: relative weight
    # of the diagnosis among acute visits, per the same bands.
    weight: tuple[float, float, float]
    sex: str | None = None  # "male" / "female" when the condition is sex-specific
    min_age: int = 0
    max_age: int = 200


CHRONIC_CONDITIONS: tuple[ConditionCode, ...] = (
    ConditionCode(
        "59621000", "Essential hypertension", "I10", "Essential (primary) hypertension", (0.01, 0.22, 0.55), min_age=8
    ),
    ConditionCode(
        "44054006",
        "Diabetes mellitus type 2",
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        (0.003, 0.09, 0.25),
        min_age=10,
    ),
    ConditionCode("15777000", "Prediabetes", "R73.03", "Prediabetes", (0.01, 0.18, 0.22), min_age=10),
    ConditionCode(
        "46635009",
        "Diabetes mellitus type 1",
        "E10.9",
        "Type 1 diabetes mellitus without complications",
        (0.003, 0.004, 0.004),
        min_age=1,
    ),
    ConditionCode("55822004", "Hyperlipidemia", "E78.5", "Hyperlipidemia, unspecified", (0.01, 0.22, 0.45), min_age=10),
    ConditionCode(
        "302870006", "Hypertriglyceridemia", "E78.1", "Pure hyperglyceridemia", (0.0, 0.05, 0.06), min_age=18
    ),
    ConditionCode("195967001", "Asthma", "J45.909", "Unspecified asthma, uncomplicated", (0.08, 0.08, 0.07), min_age=2),
    ConditionCode(
        "13645005",
        "Chronic obstructive lung disease",
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
        (0.0, 0.03, 0.11),
        min_age=40,
    ),
    ConditionCode("87433001", "Pulmonary emphysema", "J43.9", "Emphysema, unspecified", (0.0, 0.005, 0.03), min_age=40),
    ConditionCode(
        "49436004", "Atrial fibrillation", "I48.91", "Unspecified atrial fibrillation", (0.0, 0.005, 0.09), min_age=30
    ),
    ConditionCode("84114007", "Heart failure", "I50.9", "Heart failure, unspecified", (0.0, 0.005, 0.07), min_age=30),
    ConditionCode(
        "53741008",
        "Coronary arteriosclerosis",
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery without angina pectoris",
        (0.0, 0.03, 0.16),
        min_age=35,
    ),
    ConditionCode(
        "399211009",
        "History of myocardial infarction",
        "I25.2",
        "Old myocardial infarction",
        (0.0, 0.01, 0.06),
        min_age=35,
    ),
    ConditionCode(
        "400047006",
        "Peripheral vascular disease",
        "I73.9",
        "Peripheral vascular disease, unspecified",
        (0.0, 0.01, 0.08),
        min_age=40,
    ),
    ConditionCode(
        "70995007",
        "Pulmonary hypertension",
        "I27.20",
        "Pulmonary hypertension, unspecified",
        (0.0, 0.001, 0.01),
        min_age=30,
    ),
    ConditionCode(
        "709044004",
        "Chronic kidney disease",
        "N18.9",
        "Chronic kidney disease, unspecified",
        (0.001, 0.04, 0.2),
        min_age=5,
    ),
    ConditionCode("40930008", "Hypothyroidism", "E03.9", "Hypothyroidism, unspecified", (0.003, 0.05, 0.12)),
    ConditionCode(
        "69896004", "Rheumatoid arthritis", "M06.9", "Rheumatoid arthritis, unspecified", (0.0, 0.007, 0.02), min_age=18
    ),
    ConditionCode(
        "55464009",
        "Systemic lupus erythematosus",
        "M32.9",
        "Systemic lupus erythematosus, unspecified",
        (0.0, 0.002, 0.001),
        min_age=15,
    ),
    ConditionCode(
        "239873007",
        "Osteoarthritis of knee",
        "M17.9",
        "Osteoarthritis of knee, unspecified",
        (0.0, 0.05, 0.25),
        min_age=35,
    ),
    ConditionCode(
        "64859006",
        "Osteoporosis",
        "M81.0",
        "Age-related osteoporosis without current pathological fracture",
        (0.0, 0.01, 0.15),
        min_age=45,
    ),
    ConditionCode("90560007", "Gout", "M10.9", "Gout, unspecified", (0.0, 0.03, 0.06), min_age=25),
    ConditionCode("279039007", "Low back pain", "M54.50", "Low back pain, unspecified", (0.01, 0.1, 0.12), min_age=12),
    ConditionCode(
        "235595009",
        "Gastroesophageal reflux disease",
        "K21.9",
        "Gastro-esophageal reflux disease without esophagitis",
        (0.01, 0.15, 0.2),
    ),
    ConditionCode(
        "197321007",
        "Steatosis of liver",
        "K76.0",
        "Fatty (change of) liver, not elsewhere classified",
        (0.01, 0.08, 0.08),
        min_age=10,
    ),
    ConditionCode(
        "64766004",
        "Ulcerative colitis",
        "K51.90",
        "Ulcerative colitis, unspecified, without complications",
        (0.001, 0.003, 0.003),
        min_age=8,
    ),
    ConditionCode(
        "34000006",
        "Crohn's disease",
        "K50.90",
        "Crohn's disease, unspecified, without complications",
        (0.001, 0.003, 0.002),
        min_age=8,
    ),
    ConditionCode(
        "37796009",
        "Migraine",
        "G43.909",
        "Migraine, unspecified, not intractable, without status migrainosus",
        (0.03, 0.12, 0.05),
        min_age=6,
    ),
    ConditionCode(
        "84757009",
        "Epilepsy",
        "G40.909",
        "Epilepsy, unspecified, not intractable, without status epilepticus",
        (0.006, 0.007, 0.01),
    ),
    ConditionCode(
        "26929004", "Alzheimer's disease", "G30.9", "Alzheimer's disease, unspecified", (0.0, 0.0, 0.06), min_age=60
    ),
    ConditionCode(
        "78275009",
        "Obstructive sleep apnea syndrome",
        "G47.33",
        "Obstructive sleep apnea (adult) (pediatric)",
        (0.01, 0.08, 0.12),
        min_age=3,
    ),
    ConditionCode("193462001", "Insomnia", "G47.00", "Insomnia, unspecified", (0.01, 0.08, 0.12), min_age=12),
    ConditionCode("414916001", "Obesity", "E66.9", "Obesity, unspecified", (0.15, 0.33, 0.28), min_age=2),
    ConditionCode("237602007", "Metabolic syndrome X", "E88.81", "Metabolic syndrome", (0.0, 0.05, 0.05), min_age=18),
    ConditionCode("271737000", "Anemia", "D64.9", "Anemia, unspecified", (0.03, 0.04, 0.1)),
    ConditionCode(
        "61582004", "Allergic rhinitis", "J30.9", "Allergic rhinitis, unspecified", (0.1, 0.15, 0.08), min_age=2
    ),
    ConditionCode(
        "367498001",
        "Seasonal allergic rhinitis",
        "J30.2",
        "Other seasonal allergic rhinitis",
        (0.05, 0.08, 0.04),
        min_age=2,
    ),
    ConditionCode(
        "40055000", "Chronic sinusitis", "J32.9", "Chronic sinusitis, unspecified", (0.01, 0.05, 0.05), min_age=5
    ),
    ConditionCode("24079001", "Atopic dermatitis", "L20.9", "Atopic dermatitis, unspecified", (0.1, 0.03, 0.02)),
    ConditionCode("9014002", "Psoriasis", "L40.9", "Psoriasis, unspecified", (0.005, 0.03, 0.03)),
    ConditionCode("11381005", "Acne", "L70.9", "Acne, unspecified", (0.1, 0.03, 0.0), min_age=11),
    ConditionCode(
        "370143000",
        "Major depressive disorder",
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
        (0.02, 0.08, 0.06),
        min_age=10,
    ),
    ConditionCode(
        "197480006", "Anxiety disorder", "F41.9", "Anxiety disorder, unspecified", (0.05, 0.15, 0.1), min_age=6
    ),
    ConditionCode(
        "47505003",
        "Posttraumatic stress disorder",
        "F43.10",
        "Post-traumatic stress disorder, unspecified",
        (0.005, 0.04, 0.02),
        min_age=6,
    ),
    ConditionCode(
        "13746004", "Bipolar disorder", "F31.9", "Bipolar disorder, unspecified", (0.002, 0.02, 0.01), min_age=12
    ),
    ConditionCode("58214004", "Schizophrenia", "F20.9", "Schizophrenia, unspecified", (0.0, 0.004, 0.003), min_age=16),
    ConditionCode(
        "406506008",
        "Attention deficit hyperactivity disorder",
        "F90.9",
        "Attention-deficit hyperactivity disorder, unspecified type",
        (0.09, 0.04, 0.005),
        min_age=4,
    ),
    ConditionCode("408856003", "Autistic disorder", "F84.0", "Autistic disorder", (0.02, 0.01, 0.0), min_age=2),
    ConditionCode(
        "7200002", "Alcoholism", "F10.20", "Alcohol dependence, uncomplicated", (0.0, 0.03, 0.02), min_age=16
    ),
    ConditionCode(
        "449868002",
        "Smokes tobacco daily",
        "F17.210",
        "Nicotine dependence, cigarettes, uncomplicated",
        (0.005, 0.12, 0.08),
        min_age=13,
    ),
    ConditionCode(
        "266569009",
        "Benign prostatic hyperplasia",
        "N40.0",
        "Benign prostatic hyperplasia without lower urinary tract symptoms",
        (0.0, 0.05, 0.4),
        sex="male",
        min_age=40,
    ),
    ConditionCode(
        "399068003",
        "Malignant tumor of prostate",
        "C61",
        "Malignant neoplasm of prostate",
        (0.0, 0.003, 0.04),
        sex="male",
        min_age=45,
    ),
    ConditionCode(
        "254837009",
        "Malignant neoplasm of breast",
        "C50.919",
        "Malignant neoplasm of unspecified site of unspecified female breast",
        (0.0, 0.006, 0.03),
        sex="female",
        min_age=30,
    ),
    ConditionCode(
        "363406005",
        "Malignant neoplasm of colon",
        "C18.9",
        "Malignant neoplasm of colon, unspecified",
        (0.0, 0.001, 0.01),
        min_age=40,
    ),
    ConditionCode("190905008", "Cystic fibrosis", "E84.9", "Cystic fibrosis, unspecified", (0.0003, 0.0002, 0.0)),
)

ACUTE_CONDITIONS: tuple[ConditionCode, ...] = (
    ConditionCode("444814009", "Viral sinusitis", "J01.90", "Acute sinusitis, unspecified", (6, 10, 6)),
    ConditionCode("195662009", "Acute viral pharyngitis", "J02.9", "Acute pharyngitis, unspecified", (12, 6, 3)),
    ConditionCode(
        "43878008", "Streptococcal sore throat", "J02.0", "Streptococcal pharyngitis", (8, 2, 0.5), min_age=3
    ),
    ConditionCode("10509002", "Acute bronchitis", "J20.9", "Acute bronchitis, unspecified", (5, 6, 6)),
    ConditionCode("233604007", "Pneumonia", "J18.9", "Pneumonia, unspecified organism", (2, 1.5, 4)),
    ConditionCode("65363002", "Otitis media", "H66.90", "Otitis media, unspecified, unspecified ear", (14, 1, 0.3)),
    ConditionCode(
        "68566005",
        "Urinary tract infectious disease",
        "N39.0",
        "Urinary tract infection, site not specified",
        (2, 4, 6),
    ),
    ConditionCode(
        "307426000",
        "Acute infective cystitis",
        "N30.00",
        "Acute cystitis without hematuria",
        (0.5, 2, 2),
        sex="female",
        min_age=12,
    ),
    ConditionCode("840539006", "COVID-19", "U07.1", "COVID-19", (3, 5, 5)),
    ConditionCode(
        "44465007",
        "Sprain of ankle",
        "S93.409A",
        "Sprain of unspecified ligament of unspecified ankle, initial encounter",
        (3, 3, 1),
        min_age=4,
    ),
    ConditionCode(
        "62106007",
        "Concussion with no loss of consciousness",
        "S06.0X0A",
        "Concussion without loss of consciousness, initial encounter",
        (1.5, 1, 0.5),
        min_age=3,
    ),
    ConditionCode("128045006", "Cellulitis", "L03.90", "Cellulitis, unspecified", (1, 2, 2)),
    ConditionCode("126485001", "Urticaria", "L50.9", "Urticaria, unspecified", (2, 1.5, 0.5)),
    ConditionCode("25064002", "Headache", "R51.9", "Headache, unspecified", (2, 3, 2), min_age=3),
    ConditionCode("21522001", "Abdominal pain", "R10.9", "Unspecified abdominal pain", (3, 3, 3)),
    ConditionCode("386661006", "Fever", "R50.9", "Fever, unspecified", (6, 1, 1)),
    ConditionCode("49727002", "Cough", "R05.9", "Cough, unspecified", (4, 3, 3)),
    ConditionCode("267036007", "Dyspnea", "R06.00", "Dyspnea, unspecified", (0.5, 1, 3)),
    ConditionCode("84229001", "Fatigue", "R53.83", "Other fatigue", (0.5, 2, 2), min_age=10),
    ConditionCode("14760008", "Constipation", "K59.00", "Constipation, unspecified", (3, 1, 2)),
    ConditionCode("74400008", "Appendicitis", "K37", "Unspecified appendicitis", (0.6, 0.4, 0.1), min_age=4),
    ConditionCode(
        "235919008",
        "Cholelithiasis",
        "K80.20",
        "Calculus of gallbladder without cholecystitis without obstruction",
        (0.05, 0.8, 0.8),
        min_age=12,
    ),
    ConditionCode("95570007", "Kidney stone", "N20.0", "Calculus of kidney", (0.05, 1, 1), min_age=12),
    ConditionCode(
        "128053003",
        "Deep venous thrombosis",
        "I82.409",
        "Acute embolism and thrombosis of unspecified deep veins of unspecified lower extremity",
        (0.02, 0.3, 0.8),
        min_age=15,
    ),
    ConditionCode(
        "59282003",
        "Pulmonary embolism",
        "I26.99",
        "Other pulmonary embolism without acute cor pulmonale",
        (0.01, 0.15, 0.4),
        min_age=15,
    ),
    ConditionCode(
        "230690007",
        "Cerebrovascular accident",
        "I63.9",
        "Cerebral infarction, unspecified",
        (0.0, 0.1, 0.8),
        min_age=30,
    ),
    ConditionCode(
        "72892002",
        "Normal pregnancy",
        "Z34.90",
        "Encounter for supervision of normal pregnancy, unspecified, unspecified trimester",
        (0.2, 3, 0),
        sex="female",
        min_age=16,
        max_age=45,
    ),
)

# Acute problems that are treated in hospital: (setting, procedure CPT or None, days in hospital).
ACUTE_SETTING: dict[str, tuple[str, str | None, int]] = {
    "74400008": ("IMP", "44970", 2),
    "235919008": ("IMP", "47562", 1),
    "230690007": ("IMP", "70450", 4),
    "59282003": ("IMP", "71046", 3),
    "128053003": ("EMER", None, 0),
    "62106007": ("EMER", "70450", 0),
    "95570007": ("EMER", "76700", 0),
    "233604007": ("EMER", "71046", 0),
    "72892002": ("IMP", "59510", 3),
}


# --- medications --------------------------------------------------------------------------------


class Medication(NamedTuple):
    rxnorm: str
    display: str
    sig: str  # dosageInstruction.text, as a prescriber writes it
    dose: float
    dose_unit: str  # UCUM code ({tbl} etc. are UCUM annotations)
    frequency: int  # per period
    period: float
    period_unit: str  # UCUM time unit as used by Timing: h, d, wk
    as_needed: bool = False


MEDICATIONS: dict[str, Medication] = {
    m.rxnorm: m
    for m in (
        Medication(
            "314076", "lisinopril 10 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"
        ),
        Medication("197361", "amlodipine 5 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"),
        Medication(
            "310798",
            "hydrochlorothiazide 25 MG Oral Tablet",
            "Take 1 tablet by mouth every morning",
            1,
            "{tbl}",
            1,
            1,
            "d",
        ),
        Medication(
            "860975",
            "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
            "Take 1 tablet by mouth daily with the evening meal",
            1,
            "{tbl}",
            1,
            1,
            "d",
        ),
        Medication(
            "897122",
            "3 ML liraglutide 6 MG/ML Pen Injector",
            "Inject 1.2 mg under the skin once daily",
            1.2,
            "mg",
            1,
            1,
            "d",
        ),
        Medication(
            "106892",
            "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML Injectable Suspension [Humulin]",
            "Inject 20 units under the skin twice daily before meals",
            20,
            "[IU]",
            2,
            1,
            "d",
        ),
        Medication(
            "259255", "atorvastatin 80 MG Oral Tablet", "Take 1 tablet by mouth at bedtime", 1, "{tbl}", 1, 1, "d"
        ),
        Medication(
            "312961", "simvastatin 20 MG Oral Tablet", "Take 1 tablet by mouth every evening", 1, "{tbl}", 1, 1, "d"
        ),
        Medication(
            "745679",
            "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
            "Inhale 2 puffs every 4 to 6 hours as needed for wheezing",
            2,
            "{puff}",
            1,
            4,
            "h",
            True,
        ),
        Medication(
            "895994",
            "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
            "Inhale 2 puffs twice daily; rinse mouth after use",
            2,
            "{puff}",
            2,
            1,
            "d",
        ),
        Medication(
            "855332",
            "warfarin sodium 5 MG Oral Tablet",
            "Take 1 tablet by mouth daily or as directed by the anticoagulation clinic",
            1,
            "{tbl}",
            1,
            1,
            "d",
        ),
        Medication(
            "197604", "digoxin 0.125 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"
        ),
        Medication(
            "866924",
            "metoprolol tartrate 25 MG Oral Tablet",
            "Take 1 tablet by mouth twice daily",
            1,
            "{tbl}",
            2,
            1,
            "d",
        ),
        Medication(
            "313988", "furosemide 40 MG Oral Tablet", "Take 1 tablet by mouth every morning", 1, "{tbl}", 1, 1, "d"
        ),
        Medication("243670", "aspirin 81 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"),
        Medication(
            "309362", "clopidogrel 75 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"
        ),
        Medication(
            "705129",
            "nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
            "Spray 1 dose under the tongue at onset of chest pain; may repeat every 5 minutes, max 3 doses",
            1,
            "{spray}",
            1,
            5,
            "min",
            True,
        ),
        Medication(
            "966222",
            "levothyroxine sodium 0.075 MG Oral Tablet",
            "Take 1 tablet by mouth every morning on an empty stomach",
            1,
            "{tbl}",
            1,
            1,
            "d",
        ),
        Medication(
            "205923",
            "1 ML epoetin alfa 4000 UNT/ML Injection [Epogen]",
            "Inject 4000 units under the skin once weekly",
            4000,
            "[IU]",
            1,
            1,
            "wk",
        ),
        Medication(
            "197319", "allopurinol 100 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, "{tbl}", 1, 1, "d"
        ),
        Medication(
            "997223",
            "donepezil hydrochloride 10 MG Oral Tablet",
            "Take 1 tablet by mouth at bedtime",
            1,
            "{tbl}",
            1,
            1,
            "d",
        ),
        Medication(
            "310385", "fluoxetine 20 MG Oral Capsule", "Take 1 capsule by mouth every morning", 1, "{cap}", 1, 1, "d"
        ),
        Medication(
            "849574",
            "naproxen sodium 220 MG Oral Tablet",
            "Take 1 tablet by mouth every 12 hours as needed for pain, with food",
            1,
            "{tbl}",
            1,
            12,
            "h",
            True,
        ),
        Medication(
            "313782",
            "acetaminophen 325 MG Oral Tablet",
            "Take 2 tablets by mouth every 6 hours as needed for pain or fever",
            2,
            "{tbl}",
            1,
            6,
            "h",
            True,
        ),
        Medication(
            "313820",
            "acetaminophen 160 MG Chewable Tablet",
            "Chew 1 tablet every 6 hours as needed for fever",
            1,
            "{tbl}",
            1,
            6,
            "h",
            True,
        ),
        Medication(
            "310965",
            "ibuprofen 200 MG Oral Tablet",
            "Take 2 tablets by mouth every 6 hours as needed for pain, with food",
            2,
            "{tbl}",
            1,
            6,
            "h",
            True,
        ),
        Medication(
            "997488",
            "fexofenadine hydrochloride 30 MG Oral Tablet",
            "Take 1 tablet by mouth twice daily",
            1,
            "{tbl}",
            2,
            1,
            "d",
        ),
        Medication(
            "308182",
            "amoxicillin 250 MG Oral Capsule",
            "Take 2 capsules by mouth three times daily for 10 days",
            2,
            "{cap}",
            3,
            1,
            "d",
        ),
        Medication(
            "834061",
            "penicillin V potassium 250 MG Oral Tablet",
            "Take 1 tablet by mouth four times daily for 10 days",
            1,
            "{tbl}",
            4,
            1,
            "d",
        ),
        Medication(
            "562251",
            "amoxicillin 250 MG / clavulanate 125 MG Oral Tablet",
            "Take 1 tablet by mouth every 8 hours for 7 days",
            1,
            "{tbl}",
            1,
            8,
            "h",
        ),
        Medication(
            "309097",
            "cefuroxime 250 MG Oral Tablet",
            "Take 1 tablet by mouth twice daily for 7 days",
            1,
            "{tbl}",
            2,
            1,
            "d",
        ),
        Medication(
            "835603",
            "tramadol hydrochloride 50 MG Oral Tablet",
            "Take 1 tablet by mouth every 6 hours as needed for severe pain, max 5 days",
            1,
            "{tbl}",
            1,
            6,
            "h",
            True,
        ),
        Medication(
            "1049221",
            "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet",
            "Take 1 tablet by mouth every 6 hours as needed for pain, max 3 days",
            1,
            "{tbl}",
            1,
            6,
            "h",
            True,
        ),
    )
}

# Long-term regimens per chronic condition (SNOMED -> alternative regimens, each a tuple of RxNorm
# codes taken together). A patient is put on one regimen and keeps it, renewed at follow-ups.
CONDITION_REGIMENS: dict[str, tuple[tuple[str, ...], ...]] = {
    "59621000": (("314076",), ("197361",), ("314076", "310798"), ("197361", "314076")),
    "44054006": (("860975",), ("860975", "897122")),
    "46635009": (("106892",),),
    "55822004": (("259255",), ("312961",)),
    "195967001": (("745679",), ("745679", "895994")),
    "13645005": (("745679", "895994"),),
    "87433001": (("745679",),),
    "49436004": (("855332", "866924"), ("855332", "197604")),
    "84114007": (("313988", "866924"), ("313988", "866924", "314076")),
    "53741008": (("243670",), ("243670", "309362"), ("243670", "705129")),
    "399211009": (("243670", "309362"),),
    "400047006": (("309362",), ("243670",)),
    "40930008": (("966222",),),
    "709044004": (("205923",),),
    "90560007": (("197319",),),
    "26929004": (("997223",),),
    "370143000": (("310385",),),
    "197480006": (("310385",),),
    "239873007": (("849574",), ("313782",)),
    "69896004": (("849574",),),
    "279039007": (("310965",),),
    "37796009": (("310965",),),
    "61582004": (("997488",),),
    "367498001": (("997488",),),
}

# Short courses for acute problems; children get the chewable acetaminophen instead of 325 MG.
ACUTE_MEDICATIONS: dict[str, tuple[str, ...]] = {
    "444814009": ("313782",),
    "195662009": ("313782",),
    "43878008": ("834061", "308182"),
    "10509002": ("313782",),
    "233604007": ("562251", "309097"),
    "65363002": ("308182",),
    "68566005": ("309097",),
    "307426000": ("309097",),
    "840539006": ("313782",),
    "44465007": ("310965", "849574"),
    "62106007": ("313782",),
    "128045006": ("562251",),
    "126485001": ("997488",),
    "25064002": ("310965",),
    "386661006": ("313782",),
    "74400008": ("1049221",),
    "235919008": ("1049221",),
    "95570007": ("835603",),
    "128053003": ("855332",),
    "59282003": ("855332",),
    "230690007": ("243670", "309362"),
}
CHILD_ACETAMINOPHEN = "313820"
ADULT_ACETAMINOPHEN = "313782"


# --- laboratory ---------------------------------------------------------------------------------


class LabTest(NamedTuple):
    loinc: str
    display: str
    ucum: str
    unit: str  # the unit as shown to people
    low: float | None  # reference range; None = open-ended
    high: float | None
    mean: float  # population distribution of results without a relevant condition
    sd: float
    decimals: int


LAB_TESTS: dict[str, LabTest] = {
    t.loinc: t
    for t in (
        # Comprehensive metabolic panel
        LabTest("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 70, 99, 90, 9, 0),
        LabTest("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 7, 20, 14, 3.5, 0),
        LabTest("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.6, 1.3, 0.95, 0.17, 2),
        LabTest("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 8.5, 10.5, 9.5, 0.4, 1),
        LabTest("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 135, 145, 140, 2.2, 0),
        LabTest("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.5, 5.1, 4.2, 0.35, 1),
        LabTest("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 98, 107, 102, 2.5, 0),
        LabTest(
            "2028-9",
            "Carbon dioxide, total [Moles/volume] in Serum or Plasma",
            "mmol/L",
            "mmol/L",
            22,
            29,
            25.5,
            1.8,
            0,
        ),
        LabTest("2885-2", "Protein [Mass/volume] in Serum or Plasma", "g/dL", "g/dL", 6.0, 8.3, 7.1, 0.45, 1),
        LabTest("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", "g/dL", 3.5, 5.0, 4.3, 0.3, 1),
        LabTest("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 0.1, 1.2, 0.6, 0.25, 1),
        LabTest(
            "6768-6",
            "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            "U/L",
            44,
            147,
            80,
            22,
            0,
        ),
        LabTest(
            "1742-6",
            "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            "U/L",
            7,
            56,
            25,
            10,
            0,
        ),
        LabTest(
            "1920-8",
            "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            "U/L",
            10,
            40,
            23,
            7,
            0,
        ),
        # Complete blood count
        LabTest(
            "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", "K/uL", 4.5, 11.0, 7.2, 1.6, 1
        ),
        LabTest(
            "789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL", "M/uL", 4.2, 5.9, 4.9, 0.4, 2
        ),
        LabTest("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/dL", 12.0, 17.5, 14.2, 1.2, 1),
        LabTest("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", "%", 36, 50, 42, 3.4, 1),
        LabTest("787-2", "MCV [Entitic volume] by Automated count", "fL", "fL", 80, 100, 89, 4.5, 1),
        LabTest("785-6", "MCH [Entitic mass] by Automated count", "pg", "pg", 27, 33, 30, 1.5, 1),
        LabTest("786-4", "MCHC [Mass/volume] by Automated count", "g/dL", "g/dL", 32, 36, 34, 1.0, 1),
        LabTest(
            "788-0", "Erythrocyte distribution width [Ratio] by Automated count", "%", "%", 11.5, 14.5, 13.0, 0.8, 1
        ),
        LabTest("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", "K/uL", 150, 400, 260, 55, 0),
        # Lipid panel
        LabTest("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", None, 200, 185, 30, 0),
        LabTest("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", None, 150, 120, 40, 0),
        LabTest("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 40, None, 54, 12, 0),
        LabTest(
            "18262-6",
            "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            "mg/dL",
            "mg/dL",
            None,
            100,
            108,
            25,
            0,
        ),
        # Single tests ordered to follow a condition
        LabTest("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%", 4.0, 5.6, 5.3, 0.25, 1),
        LabTest("14959-1", "Microalbumin/Creatinine [Mass Ratio] in Urine", "mg/g", "mg/g", None, 30, 12, 8, 0),
        LabTest("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", "mIU/L", 0.4, 4.0, 1.9, 0.8, 2),
        LabTest(
            "3024-7", "Thyroxine (T4) free [Mass/volume] in Serum or Plasma", "ng/dL", "ng/dL", 0.8, 1.8, 1.2, 0.18, 2
        ),
        LabTest(
            "33914-3",
            "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma "
            "by Creatinine-based formula (MDRD)",
            "mL/min/{1.73_m2}",
            "mL/min/1.73m2",
            60,
            None,
            92,
            14,
            0,
        ),
        LabTest(
            "33762-6",
            "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma",
            "pg/mL",
            "pg/mL",
            None,
            125,
            60,
            30,
            0,
        ),
        LabTest("6301-6", "INR in Platelet poor plasma by Coagulation assay", "{INR}", "INR", 0.8, 1.1, 1.0, 0.08, 1),
        LabTest("5902-2", "Prothrombin time (PT)", "s", "s", 11.0, 13.5, 12.2, 0.6, 1),
        LabTest("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL", "ng/mL", 20, 250, 110, 50, 0),
        LabTest("2498-4", "Iron [Mass/volume] in Serum or Plasma", "ug/dL", "ug/dL", 60, 170, 105, 25, 0),
        LabTest(
            "2132-9",
            "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma",
            "pg/mL",
            "pg/mL",
            200,
            900,
            480,
            140,
            0,
        ),
        LabTest("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", "mg/L", None, 10, 3, 2, 1),
        LabTest(
            "2857-1", "Prostate specific Ag [Mass/volume] in Serum or Plasma", "ng/mL", "ng/mL", None, 4.0, 1.2, 0.7, 2
        ),
        LabTest(
            "1989-3",
            "25-Hydroxyvitamin D3+25-Hydroxyvitamin D2 [Mass/volume] in Serum or Plasma",
            "ng/mL",
            "ng/mL",
            30,
            100,
            34,
            10,
            0,
        ),
        LabTest("3084-1", "Urate [Mass/volume] in Serum or Plasma", "mg/dL", "mg/dL", 3.5, 7.2, 5.4, 1.1, 1),
    )
}

# Panels: (panel LOINC, display, member LOINCs). The panel code goes on the DiagnosticReport.
LAB_PANELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "24323-8": (
        "Comprehensive metabolic 2000 panel - Serum or Plasma",
        (
            "2345-7",
            "3094-0",
            "2160-0",
            "17861-6",
            "2951-2",
            "2823-3",
            "2075-0",
            "2028-9",
            "2885-2",
            "1751-7",
            "1975-2",
            "6768-6",
            "1742-6",
            "1920-8",
        ),
    ),
    "58410-2": (
        "CBC panel - Blood by Automated count",
        ("6690-2", "789-8", "718-7", "4544-3", "787-2", "785-6", "786-4", "788-0", "777-3"),
    ),
    "57698-3": ("Lipid panel with direct LDL - Serum or Plasma", ("2093-3", "2571-8", "2085-9", "18262-6")),
    "34528-0": ("PT panel - Platelet poor plasma by Coagulation assay", ("5902-2", "6301-6")),
}
CMP, CBC, LIPID, COAG = "24323-8", "58410-2", "57698-3", "34528-0"

# Tests a clinician orders to follow a chronic condition (panel or single test codes).
CONDITION_LABS: dict[str, tuple[str, ...]] = {
    "44054006": ("4548-4", "14959-1"),
    "46635009": ("4548-4",),
    "15777000": ("4548-4",),
    "55822004": (LIPID,),
    "302870006": (LIPID,),
    "40930008": ("3016-3", "3024-7"),
    "709044004": (CMP, "33914-3"),
    "84114007": ("33762-6", CMP),
    "49436004": (COAG,),
    "271737000": (CBC, "2276-4", "2498-4", "2132-9"),
    "69896004": ("1988-5",),
    "55464009": ("1988-5", CBC),
    "266569009": ("2857-1",),
    "399068003": ("2857-1",),
    "64859006": ("1989-3",),
    "90560007": ("3084-1",),
    "197321007": (CMP,),
}

# How a condition moves a result: (mean, sd) replacing the population distribution.
CONDITION_LAB_EFFECTS: dict[str, dict[str, tuple[float, float]]] = {
    "44054006": {"2345-7": (155, 35), "4548-4": (7.6, 1.1), "14959-1": (45, 30)},
    "46635009": {"2345-7": (170, 50), "4548-4": (8.0, 1.2)},
    "15777000": {"2345-7": (108, 7), "4548-4": (6.0, 0.2)},
    "55822004": {"2093-3": (238, 28), "18262-6": (158, 24), "2571-8": (185, 45)},
    "302870006": {"2571-8": (310, 80)},
    "709044004": {"2160-0": (1.9, 0.5), "3094-0": (31, 8), "33914-3": (42, 10), "718-7": (11.4, 1.0)},
    "40930008": {"3016-3": (6.2, 2.0), "3024-7": (0.85, 0.15)},
    "271737000": {"718-7": (10.3, 0.9), "4544-3": (31.5, 2.8), "787-2": (76, 5), "2276-4": (14, 6), "2498-4": (45, 12)},
    "84114007": {"33762-6": (1800, 900)},
    "49436004": {"6301-6": (2.5, 0.4), "5902-2": (27, 4)},
    "90560007": {"3084-1": (8.6, 1.1)},
    "197321007": {"1742-6": (68, 20), "1920-8": (48, 14)},
    "399068003": {"2857-1": (9.0, 4.0)},
    "266569009": {"2857-1": (3.4, 1.4)},
    "69896004": {"1988-5": (18, 8)},
    "55464009": {"1988-5": (12, 6)},
    "64859006": {"1989-3": (22, 6)},
}

INTERPRETATION = {"N": "Normal", "H": "High", "L": "Low"}


# --- vital signs --------------------------------------------------------------------------------

# (LOINC, display, UCUM code, unit shown, US Core profile)
VITAL_BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
VITAL_SYSTOLIC = ("8480-6", "Systolic blood pressure")
VITAL_DIASTOLIC = ("8462-4", "Diastolic blood pressure")
VITALS: dict[str, tuple[str, str, str, str]] = {
    "bp": ("85354-9", "Blood pressure panel with all children optional", "mm[Hg]", "us-core-blood-pressure"),
    "hr": ("8867-4", "Heart rate", "/min", "us-core-heart-rate"),
    "rr": ("9279-1", "Respiratory rate", "/min", "us-core-respiratory-rate"),
    "temp": ("8310-5", "Body temperature", "Cel", "us-core-body-temperature"),
    "weight": ("29463-7", "Body weight", "kg", "us-core-body-weight"),
    "height": ("8302-2", "Body height", "cm", "us-core-body-height"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "us-core-bmi"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "us-core-pulse-oximetry"),
    "head": ("9843-4", "Head Occipital-frontal circumference", "cm", "us-core-head-circumference"),
}
# US Core's pulse oximetry profile also wants the generic oxygen saturation code.
SPO2_GENERIC = ("2708-6", "Oxygen saturation in Arterial blood")

SMOKING_STATUS = ("72166-2", "Tobacco smoking status")
SMOKING_VALUES = (
    ("266919005", "Never smoker"),
    ("8517006", "Ex-smoker"),
    ("449868002", "Smokes tobacco daily"),
    ("428041000124106", "Occasional tobacco smoker"),
)


# --- allergies ----------------------------------------------------------------------------------


class AllergyCode(NamedTuple):
    system: str
    code: str
    display: str
    category: str  # food | medication | environment | biologic
    weight: float
    reactions: tuple[str, ...]  # SNOMED manifestation codes, see REACTIONS


ALLERGIES: tuple[AllergyCode, ...] = (
    AllergyCode(SNOMED, "91935009", "Allergy to peanuts", "food", 4, ("126485001", "39579001", "41291007")),
    AllergyCode(SNOMED, "91934008", "Allergy to nut", "food", 2, ("126485001", "41291007")),
    AllergyCode(SNOMED, "300913006", "Shellfish allergy", "food", 3, ("126485001", "422587007", "39579001")),
    AllergyCode(SNOMED, "417532002", "Allergy to fish", "food", 1, ("126485001", "422400008")),
    AllergyCode(SNOMED, "91930004", "Allergy to eggs", "food", 2, ("271807003", "422400008")),
    AllergyCode(SNOMED, "425525006", "Allergy to dairy product", "food", 2, ("422587007", "271807003")),
    AllergyCode(SNOMED, "714035009", "Allergy to soya", "food", 1, ("271807003",)),
    AllergyCode(SNOMED, "232347008", "Dander (animal) allergy", "environment", 4, ("76067001", "418290006")),
    AllergyCode(SNOMED, "419474003", "Allergy to mould", "environment", 3, ("76067001", "49727002")),
    AllergyCode(SNOMED, "232350006", "House dust mite allergy", "environment", 4, ("76067001", "267036007")),
    AllergyCode(SNOMED, "418689008", "Allergy to grass pollen", "environment", 4, ("76067001", "418290006")),
    AllergyCode(SNOMED, "419263009", "Allergy to tree pollen", "environment", 3, ("76067001",)),
    AllergyCode(SNOMED, "300916003", "Latex allergy", "environment", 1, ("271807003", "126485001")),
    AllergyCode(SNOMED, "424213003", "Allergy to bee venom", "environment", 1, ("41291007", "39579001")),
    AllergyCode(RXNORM, "70618", "penicillin", "medication", 8, ("126485001", "271807003", "39579001")),
    AllergyCode(RXNORM, "723", "amoxicillin", "medication", 3, ("271807003", "126485001")),
    AllergyCode(RXNORM, "10180", "sulfamethoxazole", "medication", 4, ("271807003", "418290006")),
    AllergyCode(RXNORM, "2231", "cephalexin", "medication", 1, ("271807003",)),
    AllergyCode(RXNORM, "2551", "ciprofloxacin", "medication", 1, ("422587007", "271807003")),
    AllergyCode(RXNORM, "18631", "azithromycin", "medication", 1, ("422587007",)),
    AllergyCode(RXNORM, "1191", "aspirin", "medication", 2, ("126485001", "267036007")),
    AllergyCode(RXNORM, "5640", "ibuprofen", "medication", 2, ("126485001", "41291007")),
    AllergyCode(RXNORM, "2670", "codeine", "medication", 2, ("422587007", "422400008", "418290006")),
    AllergyCode(RXNORM, "7052", "morphine", "medication", 1, ("418290006", "422587007")),
    AllergyCode(RXNORM, "29046", "lisinopril", "medication", 1, ("41291007", "49727002")),
)
NO_KNOWN_ALLERGY = ("716186003", "No known allergy")

REACTIONS: dict[str, str] = {
    "126485001": "Urticaria",
    "271807003": "Eruption of skin",
    "39579001": "Anaphylaxis",
    "41291007": "Angioedema",
    "422587007": "Nausea",
    "422400008": "Vomiting",
    "76067001": "Sneezing",
    "418290006": "Itching of skin",
    "49727002": "Cough",
    "267036007": "Dyspnea",
}


# --- immunizations ------------------------------------------------------------------------------

# (CVX, short description, ages in days at which the dose is given)
CHILDHOOD_VACCINES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("08", "Hep B, adolescent or pediatric", (0, 60, 180)),
    ("116", "rotavirus, pentavalent", (60, 120, 180)),
    ("20", "DTaP", (60, 120, 180, 450, 1460)),
    ("49", "Hib (PRP-OMP)", (60, 120, 365)),
    ("133", "Pneumococcal conjugate PCV 13", (60, 120, 180, 365)),
    ("10", "IPV", (60, 120, 180, 1460)),
    ("03", "MMR", (365, 1460)),
    ("21", "varicella", (365, 1460)),
    ("83", "Hep A, ped/adol, 2 dose", (365, 545)),
    ("115", "Tdap", (4015,)),
    ("165", "HPV9", (4015, 4200)),
    ("114", "meningococcal MCV4P", (4015, 5840)),
)
FLU_VACCINE = ("140", "Influenza, seasonal, injectable, preservative free")
COVID_VACCINE = ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose")
TD_VACCINE = ("113", "Td (adult) preservative free")
ZOSTER_VACCINE = ("187", "zoster recombinant")
PPV23_VACCINE = ("33", "pneumococcal polysaccharide PPV23")


# --- procedures ---------------------------------------------------------------------------------

# CPT -> (CPT display, SNOMED code, SNOMED display)
PROCEDURES: dict[str, tuple[str, str, str]] = {
    "45378": ("Colonoscopy, flexible; diagnostic", "73761001", "Colonoscopy"),
    "93000": (
        "Electrocardiogram, routine ECG with at least 12 leads; with interpretation and report",
        "29303009",
        "Electrocardiographic procedure",
    ),
    "77067": (
        "Screening mammography, bilateral (2-view study of each breast), including computer-aided "
        "detection (CAD) when performed",
        "71651007",
        "Mammography",
    ),
    "71046": ("Radiologic examination, chest; 2 views", "399208008", "Plain chest X-ray"),
    "44970": ("Laparoscopy, surgical, appendectomy", "6025007", "Laparoscopic appendectomy"),
    "47562": ("Laparoscopy, surgical; cholecystectomy", "45595009", "Laparoscopic cholecystectomy"),
    "27447": (
        "Arthroplasty, knee, condyle and plateau; medial AND lateral compartments with or without "
        "patella resurfacing (total knee arthroplasty)",
        "609588000",
        "Total knee replacement",
    ),
    "93306": (
        "Echocardiography, transthoracic, real-time with image documentation (2D), includes M-mode "
        "recording, when performed, complete, with spectral Doppler echocardiography, and with color "
        "flow Doppler echocardiography",
        "40701008",
        "Echocardiography",
    ),
    "92928": (
        "Percutaneous transcatheter placement of intracoronary stent(s), with coronary angioplasty "
        "when performed; single major coronary artery or branch",
        "36969009",
        "Placement of stent in coronary artery",
    ),
    "90935": (
        "Hemodialysis procedure with single evaluation by a physician or other qualified health care professional",
        "265764009",
        "Renal dialysis",
    ),
    "59510": (
        "Routine obstetric care including antepartum care, cesarean delivery, and postpartum care",
        "11466000",
        "Cesarean section",
    ),
    "12001": (
        "Simple repair of superficial wounds of scalp, neck, axillae, external genitalia, trunk and/or "
        "extremities (including hands and feet); 2.5 cm or less",
        "288086009",
        "Suture open wound",
    ),
    "76700": (
        "Ultrasound, abdominal, real time with image documentation; complete",
        "45036003",
        "Ultrasonography of abdomen",
    ),
    "70450": (
        "Computed tomography, head or brain; without contrast material",
        "303653007",
        "Computed tomography of head",
    ),
    "94010": (
        "Spirometry, including graphic record, total and timed vital capacity, expiratory flow rate "
        "measurement(s), with or without maximal voluntary ventilation",
        "127783003",
        "Spirometry",
    ),
    "77080": (
        "Dual-energy X-ray absorptiometry (DXA), bone density study, 1 or more sites; axial skeleton "
        "(eg, hips, pelvis, spine)",
        "312681000",
        "Bone density scan",
    ),
    "88142": (
        "Cytopathology, cervical or vaginal (any reporting system), collected in preservative fluid, "
        "automated thin layer preparation; manual screening under physician supervision",
        "90226004",
        "Cytopathology procedure, preparation of smear, genital source",
    ),
}

# Procedures that follow a chronic condition: SNOMED condition -> CPT codes.
CONDITION_PROCEDURES: dict[str, tuple[str, ...]] = {
    "49436004": ("93000",),
    "84114007": ("93306",),
    "53741008": ("93000", "92928"),
    "13645005": ("94010",),
    "195967001": ("94010",),
    "239873007": ("27447",),
    "709044004": ("90935",),
    "64859006": ("77080",),
}

# Screening by age and sex: (CPT, sex or None, min age, max age, probability per wellness visit).
SCREENINGS: tuple[tuple[str, str | None, int, int, float], ...] = (
    ("77067", "female", 40, 75, 0.45),
    ("88142", "female", 21, 65, 0.3),
    ("45378", None, 45, 76, 0.08),
    ("93000", None, 50, 200, 0.1),
)


# --- encounters ---------------------------------------------------------------------------------

# kind -> (class code, class display, SNOMED type code, type display)
ENCOUNTER_KINDS: dict[str, tuple[str, str, str, str]] = {
    "wellness": ("AMB", "ambulatory", "162673000", "General examination of patient"),
    "well-child": ("AMB", "ambulatory", "410620009", "Well child visit"),
    "followup": ("AMB", "ambulatory", "390906007", "Follow-up encounter"),
    "acute": ("AMB", "ambulatory", "185345009", "Encounter for symptom"),
    "virtual": ("VR", "virtual", "185317003", "Telephone encounter"),
    "EMER": ("EMER", "emergency", "50849002", "Emergency room admission"),
    "IMP": ("IMP", "inpatient encounter", "32485007", "Hospital admission"),
}


# --- documents and care plans -------------------------------------------------------------------

DOC_CCD = ("34133-9", "Summary of episode note")
DOC_PROGRESS_NOTE = ("11506-3", "Progress note")
DOC_DISCHARGE_SUMMARY = ("18842-5", "Discharge summary")
CCDA_FORMAT = (
    "urn:hl7-org:sdwg:ccda-structuredBody:2.1",
    "Documents following C-CDA constraints using a structured body",
)
PDF_FORMAT = ("urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")

# Chronic condition -> (plan SNOMED code, display, activities as (SNOMED code, display)).
CARE_PLANS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "44054006": (
        "698360004",
        "Diabetes self management plan",
        (("160670007", "Diabetic diet"), ("229065009", "Exercise therapy")),
    ),
    "46635009": (
        "698360004",
        "Diabetes self management plan",
        (("160670007", "Diabetic diet"), ("229065009", "Exercise therapy")),
    ),
    "59621000": (
        "443402002",
        "Lifestyle education regarding hypertension",
        (
            ("386463000", "Prescribed activity/exercise education"),
            ("413473000", "Counseling about alcohol consumption"),
        ),
    ),
    "195967001": (
        "699728000",
        "Asthma self management",
        (("710818004", "Inhaled steroid therapy"), ("708409001", "Home nebulizer therapy")),
    ),
    "13645005": (
        "412776001",
        "Chronic obstructive pulmonary disease clinical management plan",
        (("710081004", "Smoking cessation therapy"), ("229065009", "Exercise therapy")),
    ),
    "84114007": (
        "734163000",
        "Care plan",
        (("386463000", "Prescribed activity/exercise education"), ("226234005", "Healthy diet")),
    ),
    "414916001": ("734163000", "Care plan", (("226234005", "Healthy diet"), ("229065009", "Exercise therapy"))),
}

# --- demographics -------------------------------------------------------------------------------

MARITAL_STATUS = (("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed"))
PRACTITIONER_QUALIFICATIONS = (
    ("MD", "Doctor of Medicine"),
    ("DO", "Doctor of Osteopathy"),
    ("NP", "Nurse practitioner"),
    ("PA", "Physician Assistant"),
)

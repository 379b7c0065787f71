"""Writes the synthetic HL7 v2 corpus in ``corpus/`` (run it after editing a message here).

Every name, identifier and address is made up. The messages imitate the habits of real senders:
an Epic-like ADT feed (OIDs in HD, MSH-15/16, Z-segments), a Cerner-like v2.3 feed, a MEDITECH-like
feed with CRLF line ends, reference-lab ORUs (v2.5.1 LRI style with SPM), LF-only exports,
custom delimiters, the v2.7 truncation character, escapes, nulls, repeats and UTF-8 text.

Each entry is (segments, terminator, trailing terminator?) so line endings are explicit.
Usage: ``.venv/bin/python tests/hl7v2/make_hl7_corpus.py``
"""

from __future__ import annotations

import base64
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"

EPIC = r"MSH|^~\&|EPIC|GENHOSP^1.2.840.114350.1.13.0.1.7^ISO|HOLOVITALS|HVS"
CERNER = r"MSH|^~\&|HNAM|CERNERMC|HOLOVITALS|HVS"
MEDITECH = r"MSH|^~\&|MEDITECH|MTCOMMHOSP|HOLOVITALS|HVS"
LAB = r"MSH|^~\&|LABSYS|REFLAB^05D0999999^CLIA|HOLOVITALS|HVS"

# A small synthetic "PDF" so base64 payloads are realistic in shape and length.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
    b"endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
PDF_B64 = base64.b64encode(_PDF).decode("ascii")

MESSAGES: dict[str, tuple[list[str], str, bool]] = {
    # ---------------------------------------------------------------- ADT
    "adt_a01_epic_v251.hl7": (
        [
            EPIC + r"|20240315081530-0500||ADT^A01^ADT_A01|1000123|P|2.5.1|||AL|NE||UNICODE UTF-8",
            r"EVN|A01|20240315081500-0500|||JSMITH^Smith^John^^^^^^GENHOSP",
            r"PID|1||"
            r"E1234567^^^GENHOSP&1.2.840.114350.1.13.0.1.7.5.737384.14&ISO^MR~999001234^^^USSSA&2.16.840.1.113883.4.1&ISO^SS~MRN778899^^^LABSYS^PI"
            r"||TESTPATIENT^ALEX^QUINN^^^^L~TESTY^AL^^^^^N||19800214|F||2106-3^White^CDCREC"
            r"|100 MAIN ST^APT 4B^SPRINGFIELD^IL^62701^USA^H~PO BOX 12^^SPRINGFIELD^IL^62705^USA^M"
            r"||^PRN^PH^^1^217^5550101~^NET^Internet^alex.testpatient@example.org|^WPN^PH^^1^217^5550199"
            r"|en^English^ISO639|M^Married^HL70002||||||N^Not Hispanic or Latino^HL70189",
            r"PD1|||GENHOSP FAMILY CLINIC^^1234|1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"NK1|1|TESTPATIENT^JORDAN|SPO^Spouse^HL70063|100 MAIN ST^^SPRINGFIELD^IL^62701|"
            r"^PRN^PH^^1^217^5550102",
            r"PV1|1|I|4WEST^412^A^GENHOSP^^^^4W|E|||1234567890^CAREFUL^CARLA^^^^MD^^NPI|||MED||||7|||"
            r"1234567890^CAREFUL^CARLA^^^^MD^^NPI|IP|V000123456^^^GENHOSP^VN|||||||||||||||||||||||||"
            r"20240315081000-0500",
            r"PV2|||R07.9^Chest pain^I10",
            r"OBX|1|NM|8302-2^Body height^LN||170|cm^centimeter^UCUM|||||F|||20240315081000-0500",
            r"OBX|2|NM|29463-7^Body weight^LN||72.5|kg^kilogram^UCUM|||||F|||20240315081000-0500",
            r"AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives~Wheezing",
            r"DG1|1||R07.9^Chest pain, unspecified^I10||20240315|A",
            r"IN1|1|BCBS-PPO^Blue PPO|60054^^^^NIIP|BLUE CROSS TEST PLAN|PO BOX 1^^CHICAGO^IL^60601",
            r"ZPD|1|MYCHART^ACTIVE|Y",
        ],
        "\r",
        True,
    ),
    "adt_a01_cerner_v23.hl7": (
        [
            CERNER + r"|20240301093000||ADT^A01|Q100200300T400500600|P|2.3||||||8859/1",
            r"EVN|A01|20240301092955|||CERNER^SYSTEM^USER",
            r"PID|1|2000111^^^CMRN^CMRN|5550001^^^MRN^MRN~88877766^^^FIN^FIN||SAMPLE^CHRIS^M||19721103|M|||"
            r"22 OAK AVE^^KANSAS CITY^MO^64105^US^HOME^^JACKSON||(816)555-0144^HOME^PH|||S|NON|88877766",
            r"PV1|1|INPATIENT|3EAST^305^01^CERNERMC^^BED^3E|ER||||4455^TESTDOC^TERRY^^^DR^^^EXTID|||CAR||||EMR|||"
            r"4455^TESTDOC^TERRY^^^DR^^^EXTID|88877766^^^FIN|SELF|||||||||||||||||||"
            r"CERNERMC||ACTIVE|||20240301092500",
            r"GT1|1|2000111|SAMPLE^CHRIS^M||22 OAK AVE^^KANSAS CITY^MO^64105^US|(816)555-0144|||||SELF",
        ],
        "\r",
        False,
    ),
    "adt_a01_meditech_v24_crlf.hl7": (
        [
            MEDITECH + r"|202403021415||ADT^A01|MT202403021415000001|P|2.4|||AL|NE",
            r"EVN|A01|202403021415",
            r"PID|1|M000123456|M000123456^^^MT^MR~A99887766^^^MT^PN||EXAMPLE^ROBIN^L||19550630|F|||"
            r"9 ELM RD^^PORTLAND^ME^04101||(207)555-0188|||W||A99887766|999-00-5555",
            r"PV1|1|I|MED^210^B|EL|||DRTEST^TESTER^DANA^^^^MD|||MED|||||||DRTEST^TESTER^DANA^^^^MD|IN|"
            r"|MCR||||||||||||||||||"
            r"MTCOMMHOSP|||||202403021400",
            r"ROL|1|AD|AT^Attending^HL70443|DRTEST^TESTER^DANA^^^^MD",
            r"DG1|1|I10|I50.9^Heart failure, unspecified^I10|||A",
        ],
        "\r\n",
        True,
    ),
    "adt_a02_transfer_v24.hl7": (
        [
            MEDITECH + r"|202403031000||ADT^A02|MT202403031000000002|P|2.4",
            r"EVN|A02|202403031000|||NURSE1^NURSE^NORA",
            r"PID|1||M000123456^^^MT^MR||EXAMPLE^ROBIN^L||19550630|F",
            r"PV1|1|I|ICU^01^A|||MED^210^B|DRTEST^TESTER^DANA^^^^MD|||MED||||||||IN|V5550001^^^MT^VN",
        ],
        "\r",
        True,
    ),
    "adt_a03_discharge_v251.hl7": (
        [
            EPIC + r"|20240318154500-0500||ADT^A03^ADT_A03|1000190|P|2.5.1",
            r"EVN|A03|20240318154000-0500",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP|E|||1234567890^CAREFUL^CARLA^^^^MD^^NPI|||MED||||7|||"
            r"1234567890^CAREFUL^CARLA^^^^MD^^NPI|IP|V000123456^^^GENHOSP^VN|||||||||||||||||"
            r"01^Discharged to home^HL70112"
            r"||||||||20240315081000-0500|20240318153000-0500",
            r"DG1|1||I20.9^Angina pectoris, unspecified^I10||20240318|F",
            r"DG1|2||E11.9^Type 2 diabetes mellitus without complications^I10||20240318|F",
            r"PR1|1||93458^Left heart catheterization^CPT4||20240316110000-0500",
            r"ROL|1|AD|PP^Primary Care Provider^HL70443|1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"OBX|1|ST|8661-1^Chief complaint^LN||Chest pain, resolved||||||F",
        ],
        "\r",
        True,
    ),
    "adt_a04_register_v23_lf.hl7": (
        [
            r"MSH|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240104080000||ADT^A04|REG0000042|P|2.3",
            r"EVN|A04|20240104080000",
            r"PID|||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U|||1 TEST WAY^^ANYTOWN^NY^10001",
            r"PV1||O|CLINIC A^^^NORTHCLINIC||||7777^DOCTOR^DEMO|||GEN||||||||OP|NCV0001",
        ],
        "\n",
        True,
    ),
    "adt_a04_register_v26.hl7": (
        [
            EPIC + r"|20240420100000-0400||ADT^A04^ADT_A01|1000400|P|2.6|||AL|NE",
            r"EVN||20240420095900-0400",
            r"PID|1||E7654321^^^GENHOSP^MR||DOE^JORDAN^^^^^L||20010509|X|||77 PINE ST^^ALBANY^NY^12207^USA^H",
            r"PV1|1|O|ED^^^GENHOSP||||1234567890^CAREFUL^CARLA^^^^MD^^NPI||||||||||||V000400001^^^GENHOSP^VN",
            r"ZPV|ED TRIAGE|LEVEL 3",
        ],
        "\r",
        True,
    ),
    "adt_a08_update_nulls_v251.hl7": (
        [
            EPIC + r"|20240321120000-0500||ADT^A08^ADT_A01|1000250|P|2.5.1",
            r"EVN|A08|20240321115900-0500",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F|||"
            r"100 MAIN ST^^SPRINGFIELD^IL^62701"
            r'||""|""|||||||||||""',
            r'PV1|1|O|""||||||||||||||||||V000123499^^^GENHOSP^VN',
        ],
        "\r",
        True,
    ),
    "adt_a08_update_v231_escapes.hl7": (
        [
            r"MSH|^~\&|PRACTICEMGMT|SOUTHSIDE|HOLOVITALS|HVS|20240322093000||ADT^A08^ADT_A01|PM000777|P|2.3.1",
            r"EVN|A08|20240322093000",
            r"PID|1||SS10001^^^SOUTHSIDE^MR||O'TESTER^PAT^\T\ JR||19670101|M|||"
            r"SUITE 5\F\6 SMITH \T\ JONES BLDG^^ANYTOWN^TX^75001||(214)555-0100\R\(214)555-0101",
            r"PV1|1|O|MAIN^^^SOUTHSIDE",
            r"OBX|1|TX|NOTE^Registration note^L||Path C:\E\temp\E\scan.pdf \S\ see chart||||||F",
        ],
        "\r",
        True,
    ),
    "adt_a11_cancel_admit_v25.hl7": (
        [
            r"MSH|^~\&|EPIC|GENHOSP|HOLOVITALS|HVS|20240316090000||ADT^A11^ADT_A09|1000131|P|2.5",
            r"EVN|A11|20240316090000",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP",
        ],
        "\r",
        True,
    ),
    "adt_a13_cancel_discharge_v251.hl7": (
        [
            EPIC + r"|20240319080000-0500||ADT^A13^ADT_A01|1000199|P|2.5.1",
            r"EVN|A13|20240319080000-0500",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP|E||||||MED|||||||||V000123456^^^GENHOSP^VN",
        ],
        "\r",
        True,
    ),
    "adt_a28_add_person_v25.hl7": (
        [
            r"MSH|^~\&|MPI|REGIONHIE|HOLOVITALS|HVS|20240201111111||ADT^A28^ADT_A05|MPI0000028|P|2.5",
            r"EVN|A28|20240201111111",
            r"PID|1||HIE000001^^^REGIONHIE^PI~E1234567^^^GENHOSP^MR~2000111^^^CMRN^PI||"
            r"TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|N",
        ],
        "\r",
        True,
    ),
    "adt_a31_update_person_v251_utf8.hl7": (
        [
            r"MSH|^~\&|MPI|REGIONHIE|HOLOVITALS|HVS|20240202121212||ADT^A31^ADT_A05|MPI0000031|P|2.5.1|||||"
            r"DEU|UNICODE UTF-8",
            r"EVN|A31|20240202121212",
            r"PID|1||HIE000002^^^REGIONHIE^PI||MÜLLER-TESTÉ^JÜRGEN^ÑOÑO^^^^L~测试^小明^^^^^A||19700707|M|||"
            r"STRAẞE DES BEISPIELS 1^^MÜNCHEN^BY^80331^DEU",
            r"PV1|1|N",
            r"OBX|1|ST|LANG^Preferred language^L||Español — señal «ok» ✓||||||F",
        ],
        "\r",
        True,
    ),
    "adt_a40_merge_v251.hl7": (
        [
            EPIC + r"|20240401101010-0500||ADT^A40^ADT_A39|1000401|P|2.5.1",
            r"EVN|A40|20240401101000-0500",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"MRG|E1239999^^^GENHOSP^MR||V000123456^^^GENHOSP^VN",
        ],
        "\r",
        True,
    ),
    "adt_a40_merge_two_patients_v23.hl7": (
        [
            CERNER + r"|20240402101010||ADT^A40|Q100200399T400500699|P|2.3",
            r"EVN|A40|20240402101010",
            r"PID|1||5550001^^^MRN^MRN||SAMPLE^CHRIS^M||19721103|M",
            r"MRG|5550999^^^MRN^MRN",
            r"PID|2||5550002^^^MRN^MRN||SAMPLE^CASEY||19750101|F",
            r"MRG|5550998^^^MRN^MRN",
        ],
        "\r",
        False,
    ),
    "adt_a01_v27_truncation.hl7": (
        [
            r"MSH|^~\&#|EPIC|GENHOSP|HOLOVITALS|HVS|20240501080000-0500||ADT^A01^ADT_A01|1000501|P|2.7|||AL|NE",
            r"EVN||20240501075900-0500",
            r"PID|1||E5550501^^^GENHOSP^MR||LONGNAMETESTPATIENTWHOSENAMEWASCUT#^ALEX||19800214|F|||"
            r"UNIT \P\12^^SPRINGFIELD^IL^62701",
            r"PV1|1|I|4WEST^401^A^GENHOSP|E",
        ],
        "\r",
        True,
    ),
    "adt_a08_v28_trailing_delimiters.hl7": (
        [
            r"MSH|^~\&|HISX|EASTHOSP|HOLOVITALS|HVS|20240601100000+0100||ADT^A08^ADT_A01|HX000000801|"
            r"P|2.8|||AL|NE|",
            r"EVN||20240601095959+0100|||",
            r"PID|1||HX1001^^^EASTHOSP^MR^^||BEISPIEL^ERIKA^^^^^L^^^^^^||19881111|F|||||||||||||||||||||",
            r"PV1|1|O|||||||||||||||||||||||||||||||||||||||||||",
        ],
        "\r",
        True,
    ),
    "adt_a01_custom_delimiters_v24.hl7": (
        [
            r"MSH|@*/$|LEGACYADT|OLDHOSP|HOLOVITALS|HVS|20240110101010||ADT@A01|LEG000001|P|2.4",
            r"EVN|A01|20240110101010",
            r"PID|1||L0001@@@OLDHOSP$1.2.3$ISO@MR*L0002@@@OLDHOSP@PI||SAMPLE@CASEY@/S/@@@@L||19600229|F|||"
            r"5 ROAD /T/ LANE@@OLDTOWN@VT@05001",
            r"PV1|1|I|WARD1@01@A",
        ],
        "\r",
        True,
    ),
    "adt_a04_zsegments_v25.hl7": (
        [
            EPIC + r"|20240425133000-0500||ADT^A04^ADT_A01|1000425|P|2.5|||AL|NE",
            r"EVN|A04|20240425133000-0500",
            r"PID|1||E2000425^^^GENHOSP^MR||EXAMPLE^MORGAN^^^^^L||19990909|M",
            r"ZPI|1|PORTAL^INVITED|20240425",
            r"PV1|1|O|CLINIC2^^^GENHOSP||||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"ZPV|1|TELEHEALTH",
            r"IN1|1|AETNA-HMO^Test HMO|60055^^^^NIIP|TEST HMO INC",
            r"ZIN|1|ELIGIBLE|20240101",
        ],
        "\r",
        True,
    ),
    "adt_a03_embedded_lf_v25.hl7": (
        [
            MEDITECH + r"|202403051200||ADT^A03^ADT_A03|MT202403051200000003|P|2.5",
            r"EVN|A03|202403051200",
            r"PID|1||M000123456^^^MT^MR||EXAMPLE^ROBIN^L||19550630|F",
            r"PV1|1|I|MED^210^B|||||||MED||||||||IN",
            "OBX|1|TX|DCSUM^Discharge instructions^L||Take medication daily.\nFollow up in 2 weeks.||||||F",
        ],
        "\r",
        True,
    ),
    # ---------------------------------------------------------------- ORM
    "orm_o01_lab_order_v231.hl7": (
        [
            r"MSH|^~\&|EHRORDERS|NORTHCLINIC|LABSYS|REFLAB|20240105090000||ORM^O01|ORD0000001|P|2.3.1",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"PV1|1|O|CLINIC A^^^NORTHCLINIC",
            r"ORC|NW|PO-1001|||||^^^20240105090000^^R||20240105090000|||7777^DOCTOR^DEMO",
            r"OBR|1|PO-1001||80053^Comprehensive metabolic panel^CPT4|||20240105085500|||||||||7777^DOCTOR^DEMO",
            r"NTE|1|P|Patient fasting since midnight",
            r"DG1|1|I10|E11.9^Type 2 diabetes mellitus^I10",
        ],
        "\r",
        True,
    ),
    "orm_o01_radiology_two_orders_v25.hl7": (
        [
            EPIC + r"|20240310140000-0500||ORM^O01^ORM_O01|1000310|P|2.5",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|O|RAD^^^GENHOSP||||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"IN1|1|BCBS-PPO^Blue PPO|60054^^^^NIIP|BLUE CROSS TEST PLAN",
            r"ORC|NW|RAD-5001^EPIC|||SC||||20240310140000-0500|||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"OBR|1|RAD-5001^EPIC||71046^XR CHEST 2 VIEWS^CPT4|||20240310140000-0500",
            r"NTE|1||Rule out pneumonia",
            r"ORC|NW|RAD-5002^EPIC|||SC||||20240310140000-0500|||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"OBR|2|RAD-5002^EPIC||74177^CT ABD/PELVIS W CONTRAST^CPT4|||20240310140000-0500",
            r"DG1|1|I10|R10.9^Abdominal pain^I10",
        ],
        "\r",
        True,
    ),
    "orm_o01_cancel_v23.hl7": (
        [
            r"MSH|^~\&|EHRORDERS|NORTHCLINIC|LABSYS|REFLAB|20240106100000||ORM^O01|ORD0000002|P|2.3",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"ORC|CA|PO-1001||||||||||7777^DOCTOR^DEMO",
            r"OBR|1|PO-1001||80053^Comprehensive metabolic panel^CPT4",
        ],
        "\r",
        False,
    ),
    "orm_o01_pharmacy_rxo_v24.hl7": (
        [
            r"MSH|^~\&|CPOE|GENHOSP|PHARM|GENHOSP|20240312080000||ORM^O01|RX00000088|P|2.4",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP",
            r"ORC|NW|RX-9001|||||1^BID^^20240312080000|||||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"RXO|197361^Amlodipine 5 MG Oral Tablet^RXNORM|5||MG|TAB",
            r"NTE|1||Hold if SBP \S\ 100 or HR \S\ 60",
        ],
        "\r",
        True,
    ),
    # ---------------------------------------------------------------- ORU
    "oru_r01_cbc_v251.hl7": (
        [
            LAB + r"|20240302110045-0600||ORU^R01^ORU_R01|LAB-000451|P|2.5.1|||NE|NE|USA||||"
            r"LRI_Common_Component^^2.16.840.1.113883.9.16^ISO",
            r"SFT|TESTLAB SOFTWARE INC^L^^^^^^^^^^TLS|4.2|LABSYS|4200||20230101",
            r"PID|1||E1234567^^^GENHOSP^MR~L7788^^^REFLAB^PI||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"ORC|RE|PO-1001^EHRORDERS|RL-777^LABSYS|||||||||1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"OBR|1|PO-1001^EHRORDERS|RL-777^LABSYS|58410-2^CBC panel - Blood by Automated count^LN|||"
            r"20240302083000-0600|||||||||1234567890^CAREFUL^CARLA^^^^MD^^NPI||||||20240302110000-0600|||F",
            r"OBX|1|NM|6690-2^WBC^LN||7.2|10*3/uL^thousand per microliter^UCUM|4.0-11.0|N|||F|||"
            r"20240302083000-0600",
            r"OBX|2|NM|718-7^Hemoglobin^LN||10.9|g/dL^gram per deciliter^UCUM|12.0-16.0|L|||F|||"
            r"20240302083000-0600",
            r"NTE|1|L|Verified by repeat analysis.",
            r"OBX|3|NM|4544-3^Hematocrit^LN||33.1|%^percent^UCUM|36-46|L|||F|||20240302083000-0600",
            r"OBX|4|NM|777-3^Platelets^LN||250|10*3/uL^thousand per microliter^UCUM|150-400|N|||F|||"
            r"20240302083000-0600",
            r"SPM|1|SP-777&LABSYS||119297000^Blood specimen^SCT|||||||||||||20240302083000-0600|"
            r"20240302090000-0600",
        ],
        "\r",
        True,
    ),
    "oru_r01_chem_two_orders_v23.hl7": (
        [
            r"MSH|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240106120000||ORU^R01|LAB-000460|P|2.3",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"PV1|1|O|CLINIC A^^^NORTHCLINIC",
            r"OBR|1|PO-1001|RL-801|2345-7^Glucose^LN|||20240106080000|||||||20240106081000||"
            r"7777^DOCTOR^DEMO||||||20240106115900|||F",
            r"OBX|1|NM|2345-7^Glucose^LN||126|mg/dL|70-99|H|||F",
            r"NTE|1||Non-fasting specimen",
            r"OBR|2|PO-1002|RL-802|2160-0^Creatinine^LN|||20240106080000|||||||||||||||20240106115900|||F",
            r"OBX|1|NM|2160-0^Creatinine^LN||0.9|mg/dL|0.6-1.1|N|||F",
            r"OBX|2|NM|33914-3^eGFR^LN||>90|mL/min/{1.73_m2}|>60||||F",
        ],
        "\r",
        True,
    ),
    "oru_r01_micro_v25.hl7": (
        [
            LAB + r"|20240303150000||ORU^R01^ORU_R01|LAB-000470|P|2.5",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1|PO-1010|RL-901|630-4^Bacteria identified in Urine by Culture^LN|||20240301100000|||||||||"
            r"1234567890^CAREFUL^CARLA^^^^MD^^NPI||||||20240303145900|||F",
            r"OBX|1|CWE|630-4^Bacteria identified^LN|1|112283007^Escherichia coli^SCT||||||F",
            r"OBX|2|SN|564-5^Colony count^LN|1|>^100000|{CFU}/mL^colony forming units per milliliter^UCUM|||||F",
            r"NTE|1||Susceptibility to follow.\.br\Contact lab with questions.",
        ],
        "\r",
        True,
    ),
    "oru_r01_two_patients_v24.hl7": (
        [
            r"MSH|^~\&|POCT|GENHOSP|HOLOVITALS|HVS|20240304070000||ORU^R01|POC000001|P|2.4",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1||POC-1|2345-7^Glucose^LN|||20240304065500",
            r"OBX|1|NM|2345-7^Glucose^LN||98|mg/dL|70-99|N|||F",
            r"PID|2||E7654321^^^GENHOSP^MR||DOE^JORDAN||20010509|X",
            r"OBR|1||POC-2|2345-7^Glucose^LN|||20240304065700",
            r"OBX|1|NM|2345-7^Glucose^LN||143|mg/dL|70-99|H|||F",
        ],
        "\r",
        True,
    ),
    "oru_r01_text_report_v231.hl7": (
        [
            r"MSH|^~\&|RADSYS|GENHOSP|HOLOVITALS|HVS|20240311093000||ORU^R01|RAD000101|P|2.3.1",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|O|RAD^^^GENHOSP",
            r"OBR|1|RAD-5001|RS-5001|71046^XR CHEST 2 VIEWS^CPT4|||20240310141500|||||||||"
            r"5550001111^READER^RAY^^^^MD||||||20240311092900||RAD|F",
            r"OBX|1|TX|71046&IMP^Impression^CPT4||No acute cardiopulmonary process.~Heart size normal.||||||F",
            r"OBX|2|FT|71046&BODY^Report body^CPT4||"
            r"FINDINGS:\.br\Lungs are clear.\.br\\.br\IMPRESSION:\.br\Normal study.||||||F",
        ],
        "\r",
        True,
    ),
    "oru_r01_specimen_v26.hl7": (
        [
            LAB + r"|20240305160000-0600||ORU^R01^ORU_R01|LAB-000480|P|2.6",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"ORC|RE|PO-1020|RL-1020",
            r"OBR|1|PO-1020|RL-1020|2093-3^Cholesterol^LN|||20240305080000-0600|||||||||||||||"
            r"20240305155900-0600|||F",
            r"TQ1|1||||||20240305080000-0600",
            r"OBX|1|NM|2093-3^Cholesterol^LN||188|mg/dL^milligram per deciliter^UCUM|<200|N|||F",
            r"SPM|1|SP-1020&LABSYS||119364003^Serum specimen^SCT|||||||||||||20240305080000-0600",
            r"OBX|1|CWE|SPECQUAL^Specimen quality^L||HEMOLYZED-SLIGHT^Slightly hemolyzed^L||||||F",
        ],
        "\r",
        True,
    ),
    "oru_r01_v28_participants.hl7": (
        [
            LAB + r"|20240701101500+0000||ORU^R01^ORU_R01|LAB-000490|P|2.8|||NE|NE",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"ORC|RE|PO-1030|RL-1030",
            r"OBR|1|PO-1030|RL-1030|4548-4^Hemoglobin A1c^LN|||20240701080000+0000||||||||||||||||||F",
            r"PRT||AD||OP^Ordering Provider^HL70443|1234567890^CAREFUL^CARLA^^^^MD^^NPI",
            r"OBX|1|NM|4548-4^Hemoglobin A1c^LN||6.1|%^percent^UCUM|4.0-5.6|H|||F",
            r"PRT||AD||RO^Responsible Observer^HL70443|5550002222^TECH^TAYLOR",
        ],
        "\r",
        True,
    ),
    "oru_r01_lf_export_v251.hl7": (
        [
            LAB + r"|20240306101010||ORU^R01^ORU_R01|LAB-000500|P|2.5.1",
            r"PID|1||L7788^^^REFLAB^PI||SAMPLE^CHRIS^M||19721103|M",
            r"OBR|1||RL-1100|24323-8^Comprehensive metabolic panel^LN|||20240306080000||||||||||||||||||F",
            r"OBX|1|NM|2951-2^Sodium^LN||140|mmol/L|136-145|N|||F",
            r"OBX|2|NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.1|N|||F",
            r"OBX|3|NM|2075-0^Chloride^LN||101|mmol/L|98-107|N|||F",
        ],
        "\n",
        False,
    ),
    "oru_r01_hex_escapes_v25.hl7": (
        [
            LAB + r"|20240307111111||ORU^R01^ORU_R01|LAB-000510|P|2.5",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1||RL-1200|11502-2^Laboratory report^LN|||20240307080000",
            r"OBX|1|TX|COMMENT^Comment^L||Line one\X0D\\X0A\Line two: caf\XC3A9\ \H\important\N\||||||F",
            r"OBX|2|ST|SYM^Symbols^L||A\F\B \S\ C\T\D \R\ E\E\F||||||F",
        ],
        "\r",
        True,
    ),
    "oru_r01_pdf_ed_v251.hl7": (
        [
            LAB + r"|20240308121212||ORU^R01^ORU_R01|LAB-000520|P|2.5.1",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1||RL-1300|60567-5^Comprehensive pathology report panel^LN|||20240308080000||||||||||||||||||F",
            r"OBX|1|ED|PDF^Pathology report PDF^L||LABSYS^application^pdf^Base64^" + PDF_B64 + r"||||||F",
        ],
        "\r",
        True,
    ),
    # ---------------------------------------------------------------- SIU
    "siu_s12_new_appointment_v24.hl7": (
        [
            r"MSH|^~\&|SCHEDSYS|NORTHCLINIC|HOLOVITALS|HVS|20240110090000||SIU^S12|SCH000001|P|2.4",
            r"SCH|APT-1001^SCHEDSYS|APT-1001^SCHEDSYS|||||ROUTINE^Routine visit^L|OFFICE^Office visit^L|30|MIN|"
            r"^^30^20240115093000^20240115100000|||||7777^DOCTOR^DEMO||||7777^DOCTOR^DEMO|||||BOOKED",
            r"NTE|1||Patient requests morning slot",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"PV1|1|O|CLINIC A^^^NORTHCLINIC",
            r"RGS|1|A",
            r"AIS|1|A|99213^Office visit est^CPT4|20240115093000|||30|MIN",
            r"AIG|1|A|ROOM3^Exam room 3",
            r"AIL|1|A|CLINIC A^^^NORTHCLINIC|||20240115093000|||30|MIN",
            r"AIP|1|A|7777^DOCTOR^DEMO|ATT^Attending|||20240115093000|||30|MIN",
        ],
        "\r",
        True,
    ),
    "siu_s13_reschedule_v251.hl7": (
        [
            EPIC + r"|20240112100000-0500||SIU^S13^SIU_S12|1000512|P|2.5.1",
            r"SCH|APT-2001^EPIC|APT-2001^EPIC|||||FOLLOWUP^Follow-up^L|OFFICE^Office visit^L|20|MIN||||||"
            r"1234567890^CAREFUL^CARLA^^^^MD^^NPI|||||||||Booked",
            r"TQ1|1||||||20240120140000-0500|20240120142000-0500",
            r"NTE|1||Rescheduled at patient request",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"RGS|1",
            r"AIS|1||99214^Office visit est, moderate^CPT4|20240120140000-0500|||20|min",
            r"AIP|1||1234567890^CAREFUL^CARLA^^^^MD^^NPI|ATT",
        ],
        "\r",
        True,
    ),
    "siu_s14_modify_v23.hl7": (
        [
            r"MSH|^~\&|SCHEDSYS|NORTHCLINIC|HOLOVITALS|HVS|20240111090000||SIU^S14|SCH000002|P|2.3",
            r"SCH|APT-1001|APT-1001|||||ROUTINE|OFFICE|45|MIN|^^45^20240115093000^20240115101500",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"RGS|1|U",
            r"AIL|1|U|CLINIC B^^^NORTHCLINIC",
        ],
        "\r",
        False,
    ),
    "siu_s15_cancel_v25.hl7": (
        [
            r"MSH|^~\&|SCHEDSYS|NORTHCLINIC|HOLOVITALS|HVS|20240113090000||SIU^S15^SIU_S12|SCH000003|P|2.5",
            r"SCH|APT-1001|APT-1001|||||CANCEL^Patient cancelled^L|OFFICE|45|MIN|||||||||||||||Cancelled",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"RGS|1|D",
            r"AIS|1|D|99213^Office visit est^CPT4",
        ],
        "\r",
        True,
    ),
    # ---------------------------------------------------------------- MDM
    "mdm_t02_text_note_v25.hl7": (
        [
            EPIC + r"|20240315170000-0500||MDM^T02^MDM_T02|1000601|P|2.5",
            r"EVN|T02|20240315170000-0500",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP",
            r"TXA|1|PN^Progress note^L|TX|20240315165000-0500|1234567890^CAREFUL^CARLA^^^^MD^^NPI|||||||"
            r"DOC-0001^EPIC|||||AU||AV",
            r"OBX|1|TX|PN^Progress note^L|1|Subjective: feels better today.||||||F",
            r"OBX|2|TX|PN^Progress note^L|2|Objective: afebrile, vitals stable.||||||F",
            r"OBX|3|TX|PN^Progress note^L|3|Plan: continue current therapy \T\ recheck labs.||||||F",
        ],
        "\r",
        True,
    ),
    "mdm_t02_pdf_base64_v251.hl7": (
        [
            r"MSH|^~\&|TRANSCRIBE|GENHOSP|HOLOVITALS|HVS|20240316080000||MDM^T02^MDM_T02|TR00000077|P|2.5.1",
            r"EVN|T02|20240316080000",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP",
            r"ORC|RE|PO-2001",
            r"OBR|1|PO-2001||11506-3^Progress note^LN",
            r"TXA|1|DS^Discharge summary^L|AP|20240316075500||||||||DOC-0077^TRANSCRIBE|||||LA",
            r"OBX|1|ED|DS^Discharge summary^L||^application^pdf^Base64^" + PDF_B64 + r"||||||F",
        ],
        "\r",
        True,
    ),
    "mdm_t01_notification_v24.hl7": (
        [
            r"MSH|^~\&|TRANSCRIBE|GENHOSP|HOLOVITALS|HVS|20240316070000||MDM^T01|TR00000076|P|2.4",
            r"EVN|T01|20240316070000",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"PV1|1|I|4WEST^412^A^GENHOSP",
            r"TXA|1|DS^Discharge summary^L|TX|20240316065500||||||||DOC-0076^TRANSCRIBE|||||IP",
        ],
        "\r",
        True,
    ),
    "mdm_t02_utf8_v28.hl7": (
        [
            r"MSH|^~\&|DOCSYS|EUROCLINIC|HOLOVITALS|HVS|20240702090000+0200||MDM^T02^MDM_T02|"
            r"DOC-EU-0001|P|2.8|||||"
            r"FRA|UNICODE UTF-8",
            r"EVN||20240702090000+0200",
            r"PID|1||EU0001^^^EUROCLINIC^MR||TESTÉ^ÉLODIE^^^^^L||19850315|F",
            r"PV1|1|O",
            r"TXA|1|CN^Consult note^L|TX|20240702085500+0200||||||||DOC-EU-0001-A|||||AU",
            r"OBX|1|TX|CN^Consult note^L||"
            r"Patiente vue en consultation: état général très bon. Größe normal.||||||F",
        ],
        "\r",
        True,
    ),
    # ---------------------------------------------------------------- ACK
    "ack_aa_v251.hl7": (
        [
            r"MSH|^~\&|HOLOVITALS|HVS|EPIC|GENHOSP|20240315081531-0500||ACK^A01^ACK|HV0000000001|P|2.5.1",
            r"MSA|AA|1000123",
        ],
        "\r",
        True,
    ),
    "ack_ae_err_v25.hl7": (
        [
            r"MSH|^~\&|HOLOVITALS|HVS|LABSYS|REFLAB|20240302110046||ACK^R01^ACK|HV0000000002|P|2.5",
            r"MSA|AE|LAB-000451|Required field missing",
            r"ERR||OBX^3^3|101^Required field missing^HL70357|E||||OBX(3)-3 required field missing",
        ],
        "\r",
        True,
    ),
    "ack_ar_v23_err1.hl7": (
        [
            r"MSH|^~\&|HOLOVITALS|HVS|HNAM|CERNERMC|20240301093001||ACK^A01|HV0000000003|P|2.3",
            r"MSA|AR|Q100200300T400500600|Unsupported version id",
            r"ERR|MSH^1^12^203&Unsupported version id&HL70357",
        ],
        "\r",
        True,
    ),
}

BATCHES: dict[str, str] = {
    "batch_fhs_bhs_three_messages.hl7": "\r".join(
        [
            r"FHS|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240309000000||LAB-FILE-0001.hl7|||FILE0001",
            r"BHS|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240309000000||||BATCH0001",
            r"MSH|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240309000100||ORU^R01|B1-MSG1|P|2.3",
            r"PID|1||NC55501^^^NORTHCLINIC^MR||PATIENT^TEST^A||19911224|U",
            r"OBR|1|PO-3001|RL-3001|2345-7^Glucose^LN",
            r"OBX|1|NM|2345-7^Glucose^LN||101|mg/dL|70-99|H|||F",
            r"MSH|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240309000200||ORU^R01|B1-MSG2|P|2.3",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1|PO-3002|RL-3002|2160-0^Creatinine^LN",
            r"OBX|1|NM|2160-0^Creatinine^LN||1.0|mg/dL|0.6-1.1|N|||F",
            r"MSH|^~\&|LABSYS|REFLAB|HOLOVITALS|HVS|20240309000300||ORU^R01|B1-MSG3|P|2.3",
            r"PID|1||L7788^^^REFLAB^PI||SAMPLE^CHRIS^M||19721103|M",
            r"OBR|1|PO-3003|RL-3003|2951-2^Sodium^LN",
            r"OBX|1|NM|2951-2^Sodium^LN||139|mmol/L|136-145|N|||F",
            r"BTS|3",
            r"FTS|1",
        ]
    )
    + "\r",
    "batch_two_batches_crlf.hl7": "\r\n".join(
        [
            r"FHS|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109000000",
            r"BHS|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109000000",
            r"MSH|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109000100||ADT^A04|B2-MSG1|P|2.3",
            r"EVN|A04|20240109000100",
            r"PID|||NC55502^^^NORTHCLINIC^MR||EXAMPLE^ROBIN||19550630|F",
            r"PV1||O",
            r"BTS|1",
            r"BHS|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109010000",
            r"MSH|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109010100||ADT^A08|B2-MSG2|P|2.3",
            r"EVN|A08|20240109010100",
            r"PID|||NC55502^^^NORTHCLINIC^MR||EXAMPLE^ROBIN^L||19550630|F",
            r"PV1||O",
            r"MSH|^~\&|REGSYS|NORTHCLINIC|HOLOVITALS|HVS|20240109010200||ADT^A08|B2-MSG3|P|2.3",
            r"EVN|A08|20240109010200",
            r"PID|||NC55503^^^NORTHCLINIC^MR||SAMPLE^CASEY||19750101|F",
            r"PV1||O",
            r"BTS|2",
            r"FTS|2",
        ]
    )
    + "\r\n",
    "batch_bare_concatenated.hl7": "\n".join(
        [
            r"MSH|^~\&|POCT|GENHOSP|HOLOVITALS|HVS|20240304070000||ORU^R01|POC-B-1|P|2.4",
            r"PID|1||E1234567^^^GENHOSP^MR||TESTPATIENT^ALEX^QUINN||19800214|F",
            r"OBR|1||POC-B-1|2345-7^Glucose^LN",
            r"OBX|1|NM|2345-7^Glucose^LN||98|mg/dL|70-99|N|||F",
            "",
            r"MSH|^~\&|POCT|GENHOSP|HOLOVITALS|HVS|20240304070500||ORU^R01|POC-B-2|P|2.4",
            r"PID|1||E7654321^^^GENHOSP^MR||DOE^JORDAN||20010509|X",
            r"OBR|1||POC-B-2|2345-7^Glucose^LN",
            r"OBX|1|NM|2345-7^Glucose^LN||143|mg/dL|70-99|H|||F",
        ]
    )
    + "\n",
}


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    (CORPUS / "batch").mkdir(exist_ok=True)
    for name, (segments, terminator, trailing) in MESSAGES.items():
        text = terminator.join(segments) + (terminator if trailing else "")
        (CORPUS / name).write_bytes(text.encode("utf-8"))
    for name, text in BATCHES.items():
        (CORPUS / "batch" / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {len(MESSAGES)} messages and {len(BATCHES)} batch files to {CORPUS}")


if __name__ == "__main__":
    main()

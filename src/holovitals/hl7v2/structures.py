"""Abstract message structures of the supported message types, as data.

Notation: ``SEG`` required segment, ``[X]`` optional, ``{X}`` repeating, ``[{X}]`` optional and
repeating, ``NAME(...)`` a segment group, ``A|B`` one of several segments. Each definition is
the union of v2.3 to v2.8 in standard order (segments added by later versions are optional), so
one definition reads every version; strict mode checks what all versions require.
Group names follow the v2.5.1 standard so they match what HAPI and Mirth users know, except
MDM's OBXNTE, which carries its v2.6+ name OBSERVATION like the same group in ORU.
"""

from __future__ import annotations

_ADT_A01 = (
    "MSH [{SFT}] [UAC] EVN PID [PD1] [{ARV}] [{ROL}] [{NK1}] PV1 [PV2] [{ARV}] [{ROL}] [{DB1}] [{OBX}] "
    "[{AL1}] [{DG1}] [DRG] [{PROCEDURE(PR1 [{ROL}])}] [{GT1}] "
    "[{INSURANCE(IN1 [IN2] [{IN3}] [{ROL}])}] [ACC] [UB1] [UB2] [PDA]"
)

STRUCTURES: dict[str, str] = {
    "ADT_A01": _ADT_A01,
    "ADT_A05": _ADT_A01,
    "ADT_A02": "MSH [{SFT}] [UAC] EVN PID [PD1] [{ROL}] PV1 [PV2] [{ROL}] [{DB1}] [{OBX}] [PDA]",
    "ADT_A03": (
        "MSH [{SFT}] [UAC] EVN PID [PD1] [{ROL}] [{NK1}] PV1 [PV2] [{ROL}] [{DB1}] [{AL1}] [{DG1}] [DRG] "
        "[{PROCEDURE(PR1 [{ROL}])}] [{OBX}] [{GT1}] [{INSURANCE(IN1 [IN2] [{IN3}] [{ROL}])}] [ACC] [PDA]"
    ),
    "ADT_A09": "MSH [{SFT}] [UAC] EVN PID [PD1] PV1 [PV2] [{DB1}] [{OBX}] [{DG1}]",
    "ADT_A39": "MSH [{SFT}] [UAC] EVN {PATIENT(PID [PD1] MRG [PV1])}",
    "ORM_O01": (
        "MSH [{SFT}] [{NTE}] "
        "[PATIENT(PID [PD1] [{NTE}] [PATIENT_VISIT(PV1 [PV2])] "
        "[{INSURANCE(IN1 [IN2] [IN3])}] [GT1] [{AL1}])] "
        "{ORDER(ORC [{TIMING(TQ1 [{TQ2}])}] [ORDER_DETAIL(OBR|RQD|RQ1|RXO|ODS|ODT [{NTE}] [CTD] [{DG1}] "
        "[{OBSERVATION(OBX [{NTE}])}])] [{FT1}] [{CTI}] [BLG])}"
    ),
    "ORU_R01": (
        "MSH [{SFT}] [UAC] "
        "{PATIENT_RESULT([PATIENT(PID [PD1] [{PRT}] [{NTE}] [{NK1}] [VISIT(PV1 [PV2] [{PRT}])])] "
        "{ORDER_OBSERVATION([ORC] OBR [{NTE}] [{PRT}] [{TIMING_QTY(TQ1 [{TQ2}])}] [CTD] "
        "[{OBSERVATION(OBX [{PRT}] [{NTE}])}] [{FT1}] [{CTI}] [{SPECIMEN(SPM [{OBX}])}])})} [DSC]"
    ),
    "SIU_S12": (
        "MSH [{SFT}] [UAC] SCH [{TQ1}] [{NTE}] [{PATIENT(PID [PD1] [PV1] [PV2] [{OBX}] [{DG1}])}] "
        "{RESOURCES(RGS [{SERVICE(AIS [{NTE}])}] [{GENERAL_RESOURCE(AIG [{NTE}])}] "
        "[{LOCATION_RESOURCE(AIL [{NTE}])}] [{PERSONNEL_RESOURCE(AIP [{NTE}])}])}"
    ),
    "MDM_T01": (
        "MSH [{SFT}] [UAC] EVN PID [{PRT}] PV1 [{PRT}] "
        "[{COMMON_ORDER(ORC [{TIMING(TQ1 [{TQ2}])}] OBR [{NTE}])}] TXA [{PRT}] [{CON}]"
    ),
    "MDM_T02": (
        "MSH [{SFT}] [UAC] EVN PID [{PRT}] PV1 [{PRT}] "
        "[{COMMON_ORDER(ORC [{TIMING(TQ1 [{TQ2}])}] OBR [{NTE}])}] TXA [{PRT}] [{CON}] "
        "{OBSERVATION(OBX [{PRT}] [{NTE}])}"
    ),
    "ACK": "MSH [{SFT}] [UAC] MSA [{ERR}]",
}

#: Message type -> trigger event -> structure id (HL7 table 0354, for the supported types).
TRIGGERS: dict[str, dict[str, str]] = {
    "ADT": {
        **dict.fromkeys(("A01", "A04", "A08", "A13"), "ADT_A01"),
        **dict.fromkeys(("A05", "A14", "A28", "A31"), "ADT_A05"),
        "A02": "ADT_A02",
        "A03": "ADT_A03",
        **dict.fromkeys(("A09", "A10", "A11"), "ADT_A09"),
        **dict.fromkeys(("A39", "A40", "A41", "A42"), "ADT_A39"),
    },
    "ORM": {"O01": "ORM_O01"},
    "ORU": {"R01": "ORU_R01"},
    "SIU": {f"S{n}": "SIU_S12" for n in range(12, 27)},
    "MDM": {
        **dict.fromkeys(("T01", "T03", "T05", "T07", "T09", "T11"), "MDM_T01"),
        **dict.fromkeys(("T02", "T04", "T06", "T08", "T10"), "MDM_T02"),
    },
}

#: The structure read when the trigger is unknown (lenient mode only).
DEFAULT_STRUCTURE = {"ADT": "ADT_A01", "ORM": "ORM_O01", "ORU": "ORU_R01", "SIU": "SIU_S12", "MDM": "MDM_T02"}

SUPPORTED_TYPES = frozenset(TRIGGERS) | {"ACK"}


def structure_for(message_type: str, trigger: str) -> str | None:
    """Standard structure id for a type and trigger (``ADT``, ``A04`` -> ``ADT_A01``), or None."""
    if message_type == "ACK":
        return "ACK"
    return TRIGGERS.get(message_type, {}).get(trigger)

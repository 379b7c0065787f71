"""SMART scopes v1 <-> v2, by example and by property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from holovitals.fhir.scopes import (
    INTERACTIONS,
    ORDER,
    ScopeError,
    missing_scopes,
    parse_scope,
    scope_allows,
    scopes_to_v1,
    to_v1,
    to_v2,
)

contexts = st.sampled_from(["patient", "user", "system"])
types = st.sampled_from(["Observation", "Patient", "Condition", "DocumentReference", "*"])
v1_words = st.sampled_from(["read", "write", "*"])
v2_perms = st.sets(st.sampled_from(list(ORDER)), min_size=1).map(lambda s: "".join(c for c in ORDER if c in s))
queries = st.sampled_from([None, "category=laboratory", "category=http://x|vital-signs"])
interactions = st.sampled_from(sorted(INTERACTIONS))


@pytest.mark.parametrize(
    ("v1", "v2"),
    [
        ("patient/Observation.read", "patient/Observation.rs"),
        ("user/*.write", "user/*.cud"),
        ("system/Patient.*", "system/Patient.cruds"),
    ],
)
def test_v1_translates_to_v2_and_back(v1, v2):
    assert to_v2(v1) == v2
    assert to_v1(v2) == v1


@pytest.mark.parametrize("v2", ["patient/Observation.r", "patient/Observation.cu", "patient/Observation.rs?category=x"])
def test_v2_scopes_v1_cannot_express_have_no_v1_form(v2):
    assert to_v1(v2) is None
    with pytest.raises(ScopeError, match="no SMART v1 equivalent"):
        scopes_to_v1(["openid", v2])


@pytest.mark.parametrize("other", ["openid", "fhirUser", "launch/patient", "offline_access", "online_access"])
def test_non_resource_scopes_pass_through_unchanged(other):
    assert parse_scope(other) is None
    assert to_v2(other) == other
    assert to_v1(other) == other


BAD_SCOPES = [
    "patient/Observation.sr",
    "patient/Observation.rcs",
    "patient/Observation.foo",
    "patient/Observation",
    "patient/Observation.read?category=x",
    "patient/Obs-1.rs",
]


@pytest.mark.parametrize("bad", BAD_SCOPES)
def test_malformed_resource_scopes_are_refused(bad):
    with pytest.raises(ScopeError):
        parse_scope(bad)


def test_scope_allows_reads_both_versions():
    assert scope_allows("patient/Observation.read", "Observation", "search")
    assert scope_allows("patient/Observation.rs", "Observation", "read")
    assert not scope_allows("patient/Observation.r", "Observation", "search")
    assert scope_allows("patient/*.cruds", "Condition", "delete")
    assert not scope_allows("patient/Observation.read", "Condition", "read")
    assert not scope_allows("user/Observation.read", "Observation", "read", context="patient")
    assert scope_allows("openid patient/Observation.rs?category=laboratory", "Observation", "search")


def test_a_grant_in_v2_covers_a_request_in_v1():
    assert missing_scopes("patient/Observation.read launch/patient", "patient/Observation.rs launch/patient") == []
    assert missing_scopes("patient/Observation.read patient/Condition.read", "patient/Observation.rs") == [
        "patient/Condition.read"
    ]
    assert missing_scopes("patient/Observation.rs", "patient/Observation.rs?category=laboratory") == [
        "patient/Observation.rs"
    ]


@given(contexts, types, v1_words)
def test_v1_round_trips_through_v2(context, rtype, word):
    v1 = f"{context}/{rtype}.{word}"
    assert to_v1(to_v2(v1)) == v1


@given(contexts, types, v2_perms, queries)
def test_v2_parses_to_itself_and_translation_is_idempotent(context, rtype, perms, query):
    v2 = f"{context}/{rtype}.{perms}" + (f"?{query}" if query else "")
    assert str(parse_scope(v2)) == v2
    assert to_v2(to_v2(v2)) == to_v2(v2) == v2


@given(contexts, types, v1_words, interactions, st.sampled_from(["Observation", "Patient", "Encounter"]))
def test_a_v1_scope_and_its_v2_translation_allow_the_same_things(context, rtype, word, interaction, target):
    v1 = f"{context}/{rtype}.{word}"
    assert scope_allows(v1, target, interaction) == scope_allows(to_v2(v1), target, interaction)


@given(contexts, types, v2_perms)
def test_v2_permissions_out_of_order_are_refused(context, rtype, perms):
    if len(perms) > 1:
        with pytest.raises(ScopeError):
            parse_scope(f"{context}/{rtype}.{perms[::-1]}")


@given(contexts, types, v2_perms, v2_perms)
def test_a_scope_covers_another_exactly_when_its_permissions_are_a_superset(context, rtype, have, want):
    granted, requested = f"{context}/{rtype}.{have}", f"{context}/{rtype}.{want}"
    assert (missing_scopes(requested, granted) == []) == set(want).issubset(have)

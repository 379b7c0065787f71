"""SMART scope grammar: v1 and v2 mean the same thing, wildcards cover every type, granting only narrows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from holovitals.sandbox.smart_scopes import (
    INTERACTION_PERMISSIONS,
    PERMISSION_ORDER,
    covers_all,
    grant_scopes,
    parse_permissions,
    parse_resource_scope,
    permitting_contexts,
)

TYPES = ["Patient", "Observation", "Condition", "DocumentReference", "Practitioner"]
contexts = st.sampled_from(["patient", "user", "system"])
types = st.sampled_from(TYPES)
type_or_wildcard = st.sampled_from([*TYPES, "*"])
interactions = st.sampled_from(sorted(INTERACTION_PERMISSIONS))
v2_letters = st.sets(st.sampled_from(PERMISSION_ORDER), min_size=1).map(
    lambda letters: "".join(c for c in PERMISSION_ORDER if c in letters)
)
permission_text = st.one_of(v2_letters, st.sampled_from(["read", "write", "*"]))
queries = st.sampled_from(["", "?category=laboratory", "?code=http://loinc.org|1234-5"])
scope_text = st.builds(lambda c, t, p, q: f"{c}/{t}.{p}{q}", contexts, type_or_wildcard, permission_text, queries)
scope_lists = st.lists(st.one_of(scope_text, st.sampled_from(["launch/patient", "openid", "offline_access"])))


def allows(scopes: list[str], resource_type: str, interaction: str) -> bool:
    return bool(permitting_contexts(scopes, resource_type, interaction))


@given(contexts, type_or_wildcard, types, interactions)
def test_v1_read_means_v2_rs(context, scope_type, resource_type, interaction):
    v1 = [f"{context}/{scope_type}.read"]
    v2 = [f"{context}/{scope_type}.rs"]
    assert allows(v1, resource_type, interaction) == allows(v2, resource_type, interaction)


@given(contexts, type_or_wildcard, types, interactions)
def test_v1_write_means_v2_cud(context, scope_type, resource_type, interaction):
    v1 = [f"{context}/{scope_type}.write"]
    v2 = [f"{context}/{scope_type}.cud"]
    assert allows(v1, resource_type, interaction) == allows(v2, resource_type, interaction)


@given(contexts, type_or_wildcard, types, interactions)
def test_v1_star_means_v2_cruds(context, scope_type, resource_type, interaction):
    assert allows([f"{context}/{scope_type}.*"], resource_type, interaction) == allows(
        [f"{context}/{scope_type}.cruds"], resource_type, interaction
    )


@given(contexts, permission_text, types, interactions)
def test_type_wildcard_covers_every_type_like_naming_it(context, permissions, resource_type, interaction):
    wildcard = [f"{context}/*.{permissions}"]
    named = [f"{context}/{resource_type}.{permissions}"]
    assert allows(wildcard, resource_type, interaction) == allows(named, resource_type, interaction)


@given(contexts, types, permission_text, interactions)
def test_a_named_type_never_grants_the_all_types_export(context, resource_type, permissions, interaction):
    assert not allows([f"{context}/{resource_type}.{permissions}"], "*", interaction)


@given(scope_text)
def test_v2_form_parses_back_to_the_same_scope(text):
    scope = parse_resource_scope(text)
    assert scope is not None
    assert parse_resource_scope(scope.to_v2()) == scope


@given(st.permutations(PERMISSION_ORDER), st.integers(min_value=2, max_value=5))
def test_v2_letters_out_of_order_are_not_a_scope(letters, length):
    text = "".join(letters[:length])
    in_order = "".join(c for c in PERMISSION_ORDER if c in text)
    assert (parse_permissions(text) is not None) == (text == in_order)


@given(scope_lists, scope_lists, types, interactions)
def test_granting_never_allows_more_than_requested_or_allowed(requested, allowed, resource_type, interaction):
    granted = grant_scopes(requested, allowed)
    for context in permitting_contexts(granted, resource_type, interaction):
        assert context in permitting_contexts(requested, resource_type, interaction)
        assert context in permitting_contexts(allowed, resource_type, interaction)
    assert covers_all(granted, requested)
    assert covers_all(granted, allowed)


@given(scope_lists)
def test_granting_what_is_allowed_keeps_it_verbatim(requested):
    unique = list(dict.fromkeys(requested))
    assert grant_scopes(unique, unique) == unique


@given(scope_lists)
def test_a_scope_list_covers_itself(scopes):
    assert covers_all(scopes, scopes)


@pytest.mark.parametrize(
    ("text", "context", "resource_type", "letters", "query"),
    [
        ("patient/Observation.read", "patient", "Observation", "rs", ""),
        ("user/*.*", "user", "*", "cruds", ""),
        ("patient/*.write", "patient", "*", "cud", ""),
        ("system/*.cruds", "system", "*", "cruds", ""),
        ("patient/Observation.rs?category=laboratory", "patient", "Observation", "rs", "category=laboratory"),
    ],
)
def test_examples_from_the_smart_specification_parse(text, context, resource_type, letters, query):
    scope = parse_resource_scope(text)
    assert scope is not None
    assert (scope.context, scope.resource_type, scope.permissions, scope.query) == (
        context,
        resource_type,
        frozenset(letters),
        query,
    )


@pytest.mark.parametrize(
    "text", ["launch/patient", "openid", "patient/Observation.sr", "patient/Observation.", "clinic/*.read", "patient/*"]
)
def test_non_resource_or_malformed_text_is_not_a_resource_scope(text):
    assert parse_resource_scope(text) is None


@pytest.mark.parametrize(
    ("interaction", "v2"),
    [("read", "r"), ("vread", "r"), ("history", "r"), ("everything", "r"), ("search", "s"), ("create", "c")],
)
def test_interactions_map_to_their_v2_letter(interaction, v2):
    assert allows([f"user/Observation.{v2}"], "Observation", interaction)
    others = "".join(c for c in PERMISSION_ORDER if c != v2)
    assert not allows([f"user/Observation.{others}"], "Observation", interaction)


def test_export_needs_both_read_and_search():
    assert allows(["system/*.rs"], "Observation", "export")
    assert not allows(["system/*.r"], "Observation", "export")
    assert not allows(["system/*.s"], "Observation", "export")


def test_granting_narrows_a_wildcard_to_the_allowed_types_in_v2_form():
    granted = grant_scopes(["patient/*.*"], ["patient/Observation.read", "patient/Condition.rs"])
    assert granted == ["patient/Observation.rs", "patient/Condition.rs"]


def test_granting_drops_unknown_scopes():
    assert grant_scopes(["launch", "bogus", "patient/*.read"], ["patient/*.cruds"]) == ["patient/*.read"]

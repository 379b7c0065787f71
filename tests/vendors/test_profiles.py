"""Vendor profiles: complete, cited, frozen, findable by the names people use, and in step with the sandbox."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from holovitals.cli import app
from holovitals.sandbox.flavours import BY_KEY as FLAVOURS
from holovitals.vendors.docs import render_markdown
from holovitals.vendors.profile import SOURCED_FIELDS, VendorProfile
from holovitals.vendors.registry import ALIASES, UnknownVendor, all_profiles, get_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILES = all_profiles()
ids = [p.key for p in PROFILES]

# Which sandbox flavour imitates which profile (NextGen Office has none of its own).
FLAVOUR_OF = {
    "epic": "epic",
    "oracle_health": "cerner",
    "meditech": "meditech",
    "athena": "athena",
    "eclinicalworks": "ecw",
    "nextgen_enterprise": "nextgen",
    "veradigm": "veradigm",
    "generic": "plain",
}


def test_there_is_a_profile_for_each_of_the_seven_vendors_plus_generic():
    assert [p.key for p in PROFILES] == [
        "epic", "oracle_health", "meditech", "athena", "eclinicalworks", "nextgen_enterprise", "nextgen_office",
        "veradigm", "generic",
    ]  # fmt: skip


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_every_value_cites_its_source(profile: VendorProfile):
    missing = [name for name in SOURCED_FIELDS if not profile.sources.get(name, "").strip()]
    assert missing == []
    assert set(profile.sources) <= set(SOURCED_FIELDS)


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_profiles_cannot_be_changed_after_import(profile: VendorProfile):
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.base_url = "https://evil.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.search["Patient"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        profile.sources["base_url"] = ""  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("cerner", "oracle_health"),
        ("Oracle-Health", "oracle_health"),
        ("allscripts", "veradigm"),
        ("ecw", "eclinicalworks"),
        ("athenahealth", "athena"),
        ("nextgen", "nextgen_enterprise"),
        ("EPIC", "epic"),
        ("smart", "generic"),
    ],
)
def test_vendors_are_found_by_the_names_people_use(name: str, key: str):
    assert get_profile(name).key == key


def test_unknown_vendor_lists_the_known_names():
    with pytest.raises(UnknownVendor, match="known: epic, oracle_health"):
        get_profile("medisoft")


def test_every_alias_points_at_a_profile():
    keys = {p.key for p in PROFILES}
    assert set(ALIASES.values()) <= keys
    assert not set(ALIASES) & keys


def test_tenant_in_path_vendors_fill_the_base_url_template():
    assert get_profile("cerner").base_url_for("abc") == "https://fhir-ehr.cerner.com/r4/abc"
    assert get_profile("ecw").base_url_for("P1") == "https://fhir4.eclinicalworks.com/fhir/r4/P1"
    assert get_profile("veradigm").tenant_placeholder == "tenant"
    with pytest.raises(ValueError, match="needs a tenant"):
        get_profile("cerner").base_url_for(None)


def test_per_customer_vendors_need_the_users_base_url_and_say_where_to_find_it():
    with pytest.raises(ValueError, match=r"open\.epic\.com/Endpoints/R4"):
        get_profile("epic").base_url_for()
    with pytest.raises(ValueError, match=r"fhir\.meditech\.com"):
        get_profile("meditech").base_url_for()
    with pytest.raises(ValueError):
        get_profile("generic").base_url_for()


@pytest.mark.parametrize(
    ("key", "tenant", "path"),
    [
        ("epic", None, "/epic/api/FHIR/R4"),
        ("oracle_health", None, "/cerner/r4/ec2458f2-1e24-41c8-b71b-0e701af7583d"),
        ("meditech", None, "/meditech/v1/uscore/R4"),
        ("athena", None, "/athena/fhir/r4"),
        ("eclinicalworks", None, "/ecw/fhir/r4/demo"),
        ("eclinicalworks", "other", "/ecw/fhir/r4/other"),
        ("nextgen_enterprise", None, "/nextgen/fhir/r4"),
        ("veradigm", None, "/veradigm/fhirroute/fhir/CP00101"),
        ("generic", None, "/fhir/r4"),
    ],
)
def test_sandbox_base_urls_use_the_sandbox_default_tenant(key: str, tenant: str | None, path: str):
    assert get_profile(key).sandbox_base_url("http://127.0.0.1:8100/", tenant) == "http://127.0.0.1:8100" + path


def test_epic_observation_search_requires_category():
    rule = get_profile("epic").search_rule("Observation")
    assert frozenset({"category", "code", "_id"}) in rule.one_of
    assert {"laboratory", "vital-signs", "social-history"} <= rule.allowed_values["category"]


def test_oracle_health_clinical_searches_need_patient_subject_or_id_but_patient_search_does_not():
    profile = get_profile("cerner")
    assert profile.search_rule("Condition").one_of == (frozenset({"_id", "patient", "subject"}),)
    assert profile.search_rule("Patient").one_of == ()


def test_athena_medication_request_adds_intent_and_the_practice():
    rule = get_profile("athena").search_rule("MedicationRequest")
    assert rule.defaults == {"ah-practice": "Organization/a-1.Practice-{tenant}", "intent": "order,plan"}
    assert rule.allowed_values["intent"] == {"order", "plan"}
    assert "ah-practice" in get_profile("athena").search_rule("Patient").defaults


@pytest.mark.parametrize(
    ("key", "resource_type", "kind", "param"),
    [
        ("epic", "DocumentReference", "last_updated", "_lastUpdated"),
        ("epic", "Observation", "created_date", "date"),
        ("epic", "Condition", "created_date", "recorded-date"),
        ("epic", "Patient", "full", None),
        ("epic", "Encounter", "full", None),
        ("meditech", "DocumentReference", "created_date", "date"),
        ("meditech", "Procedure", "full", None),
        ("eclinicalworks", "Observation", "since", "_since"),
        ("athena", "Observation", "last_updated", "_lastUpdated"),
        ("oracle_health", "Encounter", "last_updated", "_lastUpdated"),
    ],
)
def test_incremental_strategy_per_type(key: str, resource_type: str, kind: str, param: str | None):
    strategy = get_profile(key).incremental_for(resource_type)
    assert (strategy.kind, strategy.param) == (kind, param)


def test_paging_quirks():
    assert get_profile("nextgen").paging.page_size_param == "_maxresults"
    cerner = get_profile("cerner").paging
    assert (cerner.style, cerner.duplicates_across_pages, cerner.count_ignored_with_id) == ("-pageContext", True, True)
    assert "4113" in get_profile("epic").paging.expired_session


def test_only_eclinicalworks_publishes_a_rate_limit_and_others_say_so():
    ecw = get_profile("ecw").rate_limit
    assert (ecw.requests_per_minute, ecw.retry_after_sent) == (250, False)
    for profile in PROFILES:
        if profile.key != "eclinicalworks":
            assert profile.rate_limit.requests_per_minute is None
            assert profile.rate_limit.note


def test_version_conflicts():
    assert get_profile("cerner").versioning.conflict_status == 409
    assert get_profile("cerner").versioning.patch_format == "json-patch"
    for key in ("nextgen_enterprise", "nextgen_office", "veradigm"):
        assert get_profile(key).versioning.mode == "none"
        assert get_profile(key).versioning.conflict_status is None
    for key in ("epic", "meditech", "athena", "eclinicalworks", "generic"):
        assert get_profile(key).versioning.conflict_status == 412


def test_write_support():
    assert not get_profile("nextgen").writes.create and not get_profile("nextgen").writes.update
    veradigm = get_profile("veradigm")
    assert len(veradigm.writes.create) == 12 and veradigm.writes.create == veradigm.writes.update
    epic = get_profile("epic")
    assert epic.can_create("Condition") and not epic.can_update("Condition")
    assert epic.can_update("Task") and not epic.can_create("Task")
    assert get_profile("cerner").writes.patch >= {"Patient", "Encounter"}


def test_bulk_support():
    epic = get_profile("epic").bulk
    assert (epic.levels, epic.one_at_a_time) == (("group",), True)
    assert set(get_profile("cerner").bulk.levels) == {"group", "patient"}
    assert get_profile("nextgen_office").bulk.base_url == "https://fhir.meditouchehr.com/api/bulkfhir/r4"
    assert get_profile("ecw").bulk.required_scopes == ("system/Group.read",)


def test_auth_quirks():
    assert get_profile("nextgen").auth.allowed_resource_scopes == ("patient/*.*", "user/*.*")
    assert get_profile("ecw").auth.assertion_algs == ("RS384",)
    assert get_profile("cerner").auth.assertion_algs == ("RS384", "ES384")
    assert all(p.auth.pkce == "S256" for p in PROFILES)
    assert "v2" in get_profile("veradigm").auth.scope_versions


def test_epic_break_the_glass_is_a_policy_denial_never_retried():
    for code in ("4130", "4131", "4134"):
        assert get_profile("epic").error(code).action == "policy-denial"
    assert get_profile("epic").error("4113").action == "reissue-search"


def test_veradigm_redacts_rather_than_omits():
    assert get_profile("veradigm").unauthorized_records == "redacted"
    assert {p.unauthorized_records for p in PROFILES if p.key != "veradigm"} == {"omitted"}


# ---------------------------------------------------------------- in step with the sandbox's flavours


@pytest.mark.parametrize("key", FLAVOUR_OF, ids=list(FLAVOUR_OF))
def test_profile_agrees_with_the_sandbox_flavour_that_imitates_it(key: str):
    profile, flavour = get_profile(key), FLAVOURS[FLAVOUR_OF[key]]
    assert profile.sandbox_path == flavour.prefix
    if flavour.tenants:
        assert profile.sandbox_tenant in flavour.tenants
    assert profile.paging.page_size_param == flavour.count_param
    assert profile.paging.count_ignored_with_id == flavour.count_ignored_with_id
    assert profile.paging.duplicates_across_pages == (flavour.page_overlap > 0)
    if profile.paging.style != "opaque":
        assert profile.paging.style in (flavour.page_param, "_getpages")
    assert (profile.versioning.mode == "etag") == flavour.versioning
    if flavour.versioning:
        assert profile.versioning.conflict_status == flavour.version_conflict_status
    assert profile.rate_limit.requests_per_minute == flavour.rate_limit_per_minute
    assert (profile.unauthorized_records == "redacted") == bool(flavour.redact_every)
    assert profile.json_only == flavour.xml_not_acceptable
    if flavour.create_types is not None:
        assert profile.writes.create == flavour.create_types
        assert profile.writes.update == flavour.update_types
    if flavour.last_updated_types is not None:
        uses_last_updated = {t for t in profile.resource_types if profile.incremental_for(t).kind == "last_updated"}
        assert uses_last_updated == flavour.last_updated_types & profile.resource_types
    if flavour.since_param:
        assert profile.incremental_default.param == flavour.since_param


# ---------------------------------------------------------------- docs and CLI


def test_docs_vendors_md_is_rendered_from_the_profiles():
    path = ROOT / "docs" / "vendors.md"
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        "docs/vendors.md is stale: run `python -m holovitals.vendors.docs docs/vendors.md`"
    )


def test_docs_show_every_value_with_a_source():
    text = render_markdown()
    for profile in PROFILES:
        assert f"## {profile.name} (`{profile.key}`)" in text
    assert "| `rate_limit.requests_per_minute` | 250 |" in text
    assert "| `versioning.conflict_status` | 409 |" in text


def test_vendors_list_shows_every_profile():
    result = CliRunner().invoke(app, ["vendors", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for profile in PROFILES:
        assert profile.key in result.output


def test_vendors_show_prints_values_with_sources():
    result = CliRunner().invoke(app, ["vendors", "show", "cerner"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "search[*]" in result.output
    assert "-pageContext" in result.output and "409" in result.output
    assert "https://github.com/oracle-samples/ignite-endpoints" in result.output


def test_vendors_show_unknown_name_is_one_line():
    result = CliRunner().invoke(app, ["vendors", "show", "medisoft"])
    assert result.exit_code == 1
    assert "unknown vendor 'medisoft'" in result.output

"""`export --format fhir`: the journal as a FHIR R4 Bundle (type collection) that validates
with the fhir.resources models of FHIR R4B (4.3, the R4 line; the package's default models
are R5), with the standard codes and systems, and every reference resolving inside it."""

from __future__ import annotations

import copy
import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from device.journal import JournalReader, end_episode, iso
from tests.simserve import THERAPYCTL
from tests.ui.reports.diary_journal import BELT, PAD, Scenario, write_journal
from ui.reports.fhir import fhir_bundle

LOINC = "http://loinc.org"
PAIN_LOINC = "72514-3"  # Pain severity - 0-10 verbal numeric rating [Score] - Reported
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return write_journal(tmp_path_factory.mktemp("fhir") / "journal.sqlite3")


@pytest.fixture(scope="module")
def bundle(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("fhir-out") / "journal.fhir.json"
    result = cli("export", "--format", "fhir", "-o", str(out), "--db", str(scenario.path))
    assert result.returncode == 0, result.stderr
    return dict(json.loads(out.read_text(encoding="utf-8")))


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def references(node: object) -> list[str]:
    """Every Reference.reference anywhere in a resource."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found += references(value)
    elif isinstance(node, list):
        for item in node:
            found += references(item)
    return found


def test_the_bundle_validates_as_fhir_r4b_and_each_resource_does(bundle: dict[str, Any]) -> None:
    """The whole Bundle and every entry on its own validate with the R4B models. The models
    check structure, types, cardinality and unknown elements (not code bindings: the tests
    below check the codes); an R5 element name or a date that is no date fails them, so the
    check can fail."""
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    parsed = Bundle.model_validate(bundle)
    assert len(parsed.entry or []) == len(bundle["entry"])
    for entry in bundle["entry"]:
        model = get_fhir_model_class(entry["resource"]["resourceType"])
        model.model_validate(entry["resource"])
    for damage in ("r5-name", "no-date", "no-subject"):
        broken = copy.deepcopy(bundle)
        procedure = next(p for p in resources(broken, "Procedure") if "performedPeriod" in p)
        if damage == "r5-name":  # R5 renamed performed[x] to occurrence[x]
            procedure["occurrencePeriod"] = procedure.pop("performedPeriod")
        elif damage == "no-date":
            procedure["performedPeriod"]["start"] = "yesterday"
        else:
            del procedure["subject"]
        with pytest.raises(ValidationError):
            Bundle.model_validate(broken)


def test_one_resource_per_device_session_rating_and_episode(
    bundle: dict[str, Any], scenario: Scenario
) -> None:
    """A Device per known device, a Procedure per session (refused ones too), an
    Observation per pain rating, a Condition per episode, one Patient; full URLs unique."""
    kinds = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds == {
        "Patient": 1,
        "Device": 2,
        "Procedure": len(scenario.sessions),
        "Observation": len(scenario.ratings),
        "Condition": 1,
    }
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)


def test_every_reference_resolves_inside_the_bundle(bundle: dict[str, Any]) -> None:
    """Every Procedure's subject, device and reason, every Observation's subject and
    partOf point at an entry of the bundle, of the right type."""
    urls = by_url(bundle)
    for resource in resources(bundle, "Procedure") + resources(bundle, "Observation"):
        refs = references(resource)
        assert refs, resource
        for ref in refs:
            assert ref in urls, ref
        assert urls[resource["subject"]["reference"]]["resourceType"] == "Patient"
    for procedure in resources(bundle, "Procedure"):
        device = urls[procedure["focalDevice"][0]["manipulated"]["reference"]]
        assert device["resourceType"] == "Device"
        assert procedure["usedReference"] == [procedure["focalDevice"][0]["manipulated"]]
    for observation in resources(bundle, "Observation"):
        for part in observation.get("partOf", []):
            assert urls[part["reference"]]["resourceType"] == "Procedure"


def test_procedures_say_what_where_when_with_which_device_and_how_it_ended(
    bundle: dict[str, Any], scenario: Scenario
) -> None:
    """Status completed / stopped (user stop) / not-done (refused); body site text; the
    period from the journal; the device by its Bluetooth address; the end reason."""
    urls = by_url(bundle)
    procedures = {p["identifier"][0]["value"]: p for p in resources(bundle, "Procedure")}
    for written in scenario.sessions:
        procedure = procedures[written.session_id]
        status = (
            "not-done"
            if written.refused
            else "completed"
            if written.end_reason == "completed"
            else "stopped"
        )
        assert procedure["status"] == status
        assert procedure["bodySite"] == [{"text": written.site}]
        assert written.mode in procedure["code"]["text"].lower()
        device = urls[procedure["focalDevice"][0]["manipulated"]["reference"]]
        assert device["identifier"][0]["value"] == written.address
        if written.refused:
            assert "performedPeriod" not in procedure and procedure["statusReason"]["text"]
            continue
        assert procedure["performedPeriod"]["start"] == iso(written.started_at)
        assert procedure["outcome"]["text"].startswith(written.end_reason.replace("_", " "))
    devices = {d["identifier"][0]["value"]: d for d in resources(bundle, "Device")}
    assert set(devices) == {PAD, BELT}
    assert devices[BELT]["type"]["text"] == "light-belt-800"
    assert devices[PAD]["deviceName"][0]["name"] == "thermal-pad"
    # the sessions on lower-back while the episode was open give it as their reason
    [condition_url] = [u for u, r in urls.items() if r["resourceType"] == "Condition"]
    assert procedures["c1"]["reasonReference"] == [{"reference": condition_url}]
    assert "reasonReference" not in procedures["n1"] and "reasonReference" not in procedures["old"]


def test_pain_observations_are_loinc_72514_3_integers_tied_to_their_session(
    bundle: dict[str, Any], scenario: Scenario
) -> None:
    """Each rating: LOINC 72514-3 at http://loinc.org, category survey, status final,
    valueInteger (a 0-10 score: no unit), its time and site, partOf its session's
    Procedure (and none for a rating at any time)."""
    urls = by_url(bundle)
    observations = resources(bundle, "Observation")
    got = sorted(
        (
            o["effectiveDateTime"],
            o["valueInteger"],
            o.get("bodySite", {}).get("text"),
            urls[o["partOf"][0]["reference"]]["identifier"][0]["value"] if "partOf" in o else None,
        )
        for o in observations
    )
    want = sorted((iso(r.at), r.rating, r.site, r.session_id) for r in scenario.ratings)
    assert got == want
    for o in observations:
        assert o["status"] == "final"
        assert o["code"]["coding"] == [
            {
                "system": LOINC,
                "code": PAIN_LOINC,
                "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
            }
        ]
        assert o["category"][0]["coding"][0]["system"] == CATEGORY
        assert o["category"][0]["coding"][0]["code"] == "survey"
        assert isinstance(o["valueInteger"], int) and 0 <= o["valueInteger"] <= 10
        assert "valueQuantity" not in o


def test_the_episode_is_a_condition_with_onset_on_its_site(
    bundle: dict[str, Any], scenario: Scenario
) -> None:
    """The open episode: clinical status active (the standard system), onset its start,
    no abatement, body site text."""
    [condition] = resources(bundle, "Condition")
    coding = condition["clinicalStatus"]["coding"][0]
    assert coding["system"] == "http://terminology.hl7.org/CodeSystem/condition-clinical"
    assert coding["code"] == "active"
    assert condition["onsetDateTime"] == iso(scenario.episode_start)
    assert "abatementDateTime" not in condition
    assert condition["bodySite"] == [{"text": "lower-back"}]
    assert condition["code"]["text"] == "Muscle spasm"


def assert_con_4(condition: dict[str, Any]) -> None:
    """R4 invariant con-4: with an abatement[x], the clinical status is inactive, resolved
    or remission (and an open episode, without one, is active)."""
    [coding] = condition["clinicalStatus"]["coding"]
    assert coding["system"] == "http://terminology.hl7.org/CodeSystem/condition-clinical"
    abated = any(key.startswith("abatement") for key in condition)
    if abated:
        assert coding["code"] in ("inactive", "resolved", "remission")
    else:
        assert coding["code"] == "active"


def test_an_ended_episode_is_a_resolved_condition_with_its_abatement(tmp_path: Path) -> None:
    """Ended (`episode end`): clinical status resolved, abatement its end (con-4); the
    bundle still validates. Exported in process with a `now` before the end, too: the
    status follows the abatement, never active beside one."""
    scenario = write_journal(tmp_path / "journal.sqlite3")
    ended_at = scenario.episode_start + 50 * 3600
    end_episode(scenario.path, site=scenario.site, at=ended_at)
    result = cli("export", "--format", "fhir", "--db", str(scenario.path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    Bundle.model_validate(data)
    [condition] = resources(data, "Condition")
    assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert condition["clinicalStatus"]["coding"][0]["display"] == "Resolved"
    assert condition["abatementDateTime"] == iso(ended_at)
    assert_con_4(condition)
    with JournalReader(scenario.path) as reader:
        early = fhir_bundle(reader, reader.sessions(), ended_at - 3600)
    [condition] = resources(early, "Condition")
    assert_con_4(condition)
    assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"


def test_an_open_episode_satisfies_con_4(bundle: dict[str, Any]) -> None:
    [condition] = resources(bundle, "Condition")
    assert_con_4(condition)


def test_one_session_exports_only_its_procedure_and_ratings(scenario: Scenario) -> None:
    """export SESSION --format fhir: that session's Procedure and its two ratings (plus the
    devices, the episodes and the patient); it validates too."""
    result = cli("export", "c3", "--format", "fhir", "--db", str(scenario.path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    Bundle.model_validate(data)
    [procedure] = resources(data, "Procedure")
    assert procedure["identifier"] == [{"value": "c3"}]
    assert sorted(o["valueInteger"] for o in resources(data, "Observation")) == [4, 6]


def test_the_same_journal_gives_the_same_resource_ids(
    bundle: dict[str, Any], scenario: Scenario
) -> None:
    """Ids are derived from the journal (uuid5), so two exports can be compared."""
    again = json.loads(cli("export", "--format", "fhir", "--db", str(scenario.path)).stdout)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_fhir_with_all_and_a_session_is_a_usage_error(scenario: Scenario, tmp_path: Path) -> None:
    """Both a SESSION_ID and --all: exit 2, as for csv and json; nothing is written."""
    out = tmp_path / "x.json"
    result = cli("export", "c1", "--all", "--format", "fhir", "-o", str(out))
    assert result.returncode == 2 and "SESSION_ID or --all" in result.stderr
    assert not out.exists()

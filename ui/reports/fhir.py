"""The clinician export (`export --format fhir`): the journal as a FHIR R4 Bundle of type
``collection``, plain JSON dicts (the ``fhir.resources`` models validate it in the tests).

- a Patient without any identifying data: the person the journal belongs to (Procedure and
  Condition need a subject);
- a Device per known device (its name, its kind as type text, its Bluetooth address as
  identifier);
- a Procedure per session (completed, stopped, not-done for a refused request, in-progress
  for one still running): what it gave, the body site, the period, the device, the end
  reason as outcome, the dose in a note; the episode it belongs to as reason;
- an Observation per pain rating: LOINC 72514-3 (0-10 verbal numeric rating, reported),
  ``valueInteger``, part of its session's Procedure when given before or after one;
- a Condition per episode (a spasm, strain... on a body site): onset and abatement.

Codes: the therapies and body sites are given as text only. SNOMED CT codes for "heat
therapy", "cold therapy" and "light therapy" as applied by a consumer pad or belt could not
be verified against an authoritative source (SNOMED's "cryotherapy" concepts are mostly
destructive, cryoablation), and a wrong code is worse than none to a clinician's system.
"""

from __future__ import annotations

import uuid
from typing import Any

from device.journal import Episode, JournalReader, KnownDevice, PainRating, SessionRow, iso

LOINC = "http://loinc.org"
# LOINC 72514-3: "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
PAIN_CODE = "72514-3"
PAIN_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# A fixed namespace: the same journal gives the same resource ids on every export.
NAMESPACE = uuid.UUID("8a0e2f8c-6a43-4f3e-9d4b-1c0b2f7e5a10")

THERAPY_TEXT = {
    "heat": "Heat therapy (heating pad)",
    "cold": "Cold therapy (cooling pad)",
    "light": "Light therapy (light-therapy belt)",
}
EPISODE_TEXT = {
    "spasm": "Muscle spasm",
    "strain": "Muscle strain",
    "sprain": "Sprain",
    "other": "Musculoskeletal pain episode",
}
MOMENT_TEXT = {"before": "before the session", "after": "after the session"}


def _url(kind: str, key: str) -> str:
    """A bundle-local full URL, stable for one journal: urn:uuid:<uuid5>."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{key}')}"


def _id(url: str) -> str:
    return url.removeprefix("urn:uuid:")


def procedure_status(row: SessionRow) -> str:
    """A session's FHIR Procedure status."""
    if row.refused:
        return "not-done"
    if row.end_reason is None:
        return "in-progress"
    return "completed" if row.end_reason == "completed" else "stopped"


def _device(device: KnownDevice) -> dict[str, Any]:
    names = [{"name": device.name, "type": "other"}]  # the name it advertises
    if device.alias:
        names.append({"name": device.alias, "type": "user-friendly-name"})
    return {
        "resourceType": "Device",
        "identifier": [{"type": {"text": "Bluetooth LE address"}, "value": device.address}],
        "status": "active",
        "deviceName": names,
        "type": {"text": device.kind},
    }


def _dose_note(row: SessionRow) -> str | None:
    parts = []
    if row.actual_minutes is not None:
        parts.append(f"{row.actual_minutes:.1f} min of output")
    if row.cem43_minutes:
        parts.append(f"thermal dose {row.cem43_minutes:.2f} CEM43 min")
    if row.energy_j:
        parts.append(f"light energy {row.energy_j:.0f} J")
    if row.min_temperature_c is not None and row.max_temperature_c is not None:
        parts.append(f"{row.min_temperature_c:.1f}-{row.max_temperature_c:.1f} °C at the skin")
    return ", ".join(parts) or None


def _procedure(
    row: SessionRow, patient: str, device: str | None, condition: str | None
) -> dict[str, Any]:
    what = row.mode or row.plan or "therapy"
    text = THERAPY_TEXT.get(what, f"{what} (therapyctl plan)")
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "identifier": [{"value": row.session_id}],
        "status": procedure_status(row),
        "code": {"text": text},
        "subject": {"reference": patient},
    }
    if row.refused:
        resource["statusReason"] = {
            "text": row.end_detail or row.end_reason or "refused by the safety limits"
        }
    else:
        period = {"start": iso(row.started_at)}
        if row.ended_at is not None and row.ended_at >= row.started_at:
            period["end"] = iso(row.ended_at)
        resource["performedPeriod"] = period
    if row.site:
        resource["bodySite"] = [{"text": row.site}]
    if condition is not None:
        resource["reasonReference"] = [{"reference": condition}]
    if device is not None:
        resource["focalDevice"] = [{"manipulated": {"reference": device}}]
        resource["usedReference"] = [{"reference": device}]
    if row.end_reason and not row.refused:
        reason = row.end_reason.replace("_", " ")
        resource["outcome"] = {"text": reason + (f": {row.end_detail}" if row.end_detail else "")}
    if note := _dose_note(row):
        resource["note"] = [{"text": note}]
    return resource


def _observation(rating: PainRating, patient: str, procedure: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {
            "coding": [{"system": LOINC, "code": PAIN_CODE, "display": PAIN_DISPLAY}],
            "text": "Pain 0-10",
        },
        "subject": {"reference": patient},
        "effectiveDateTime": iso(rating.at),
        "valueInteger": rating.rating,
    }
    if procedure is not None:
        resource["partOf"] = [{"reference": procedure}]
    if rating.site:
        resource["bodySite"] = {"text": rating.site}
    notes = [MOMENT_TEXT[rating.moment]] if rating.moment in MOMENT_TEXT else []
    if rating.note:
        notes.append(rating.note)
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return resource


def _condition(episode: Episode, patient: str) -> dict[str, Any]:
    # R4 invariant con-4: with an abatement[x] the clinical status must be inactive,
    # resolved or remission; so an episode with an end is resolved, an open one active.
    ended = episode.ended_at is not None
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": CONDITION_CLINICAL,
                    "code": "resolved" if ended else "active",
                    "display": "Resolved" if ended else "Active",
                }
            ]
        },
        "code": {"text": EPISODE_TEXT.get(episode.kind, episode.kind)},
        "bodySite": [{"text": episode.site}],
        "subject": {"reference": patient},
        "onsetDateTime": iso(episode.started_at),
        # guidance: the acute phase is the first 48-72 h (cold every 2 h, then heat)
        "note": [{"text": f"acute phase: the first {episode.acute_h:g} h"}],
    }
    if episode.ended_at is not None:
        resource["abatementDateTime"] = iso(episode.ended_at)
    if episode.note:
        resource["note"].append({"text": episode.note})
    return resource


def fhir_bundle(
    reader: JournalReader, sessions: list[SessionRow], now: float, *, diary: bool = True
) -> dict[str, Any]:
    """The Bundle for ``sessions``, every known device and every episode, with the pain
    ratings of the whole diary (``diary``; else only those given for these sessions), each
    part of its session's Procedure when it has one."""
    patient = _url("Patient", "journal")
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient,
            "resource": {
                "resourceType": "Patient",
                "id": _id(patient),
                "active": True,
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">The person whose'
                    " therapyctl journal this is (no identifying data is exported).</div>",
                },
            },
        }
    ]

    def add(url: str, resource: dict[str, Any]) -> None:
        entries.append(
            {
                "fullUrl": url,
                "resource": {"resourceType": resource["resourceType"], "id": _id(url), **resource},
            }
        )

    devices: dict[str, str] = {}
    for device in reader.known_devices():
        devices[device.address] = _url("Device", device.address)
        add(devices[device.address], _device(device))
    episodes = sorted(reader.episodes(), key=lambda e: (e.started_at, e.id))
    conditions: dict[int, str] = {}
    for episode in episodes:
        conditions[episode.id] = _url("Condition", str(episode.id))
        add(conditions[episode.id], _condition(episode, patient))

    def episode_of(row: SessionRow) -> str | None:
        for episode in reversed(episodes):
            if (
                episode.site == row.site
                and episode.started_at <= row.started_at
                and (episode.ended_at is None or row.started_at < episode.ended_at)
            ):
                return conditions[episode.id]
        return None

    procedures: dict[str, str] = {}
    for row in sorted(sessions, key=lambda r: r.started_at):
        procedures[row.session_id] = _url("Procedure", row.session_id)
        add(
            procedures[row.session_id],
            _procedure(row, patient, devices.get(row.device_address), episode_of(row)),
        )
    ratings = reader.pain()
    if not diary:  # only these sessions: only their ratings
        ratings = [r for r in ratings if r.session_id in procedures]
    for rating in ratings:
        add(
            _url("Observation", str(rating.id)),
            _observation(rating, patient, procedures.get(rating.session_id or "")),
        )
    return {
        "resourceType": "Bundle",
        "id": _id(_url("Bundle", iso(now))),
        "type": "collection",
        "timestamp": iso(now),
        "entry": entries,
    }

"""Sessions: running therapy on a connected device, one session or a plan of several.

The session runner turns every request into device commands only through the safety
supervisor, renews the lease, and stops the output on every failure path; the plan runner
runs steps and rests and resumes after a lost link on request; plans (built-in and TOML);
usage remembered in memory or read back from the journal, and the listener that records a
session into the journal. It may use ``device.link``, ``device.safety``,
``device.journal`` and ``protocols``; it knows nothing of MQTT or any UI.
"""

from device.sessions.plan_runner import (
    MIN_RESUME_S,
    PlanMismatchError,
    PlanRunner,
    RequestError,
    Resumption,
    RunSummary,
    check_plan_fits,
)
from device.sessions.plans import (
    BUILTIN_PLANS,
    DEFAULT_COLD_C,
    DEFAULT_HEAT_C,
    PlanError,
    Step,
    TherapyPlan,
    parse_plan,
    resolve_plan,
)
from device.sessions.recording import JournalLedger, JournalRecorder, remembered_site
from device.sessions.reminders import RegimenSettings, due_list, heat_warning
from device.sessions.runner import (
    CompositeListener,
    GuardedListener,
    RunnerState,
    SessionEvent,
    SessionListener,
    SessionResult,
    SessionRunner,
    stop_task,
)
from device.sessions.usage import UsageLedger

__all__ = [
    "BUILTIN_PLANS",
    "DEFAULT_COLD_C",
    "DEFAULT_HEAT_C",
    "MIN_RESUME_S",
    "CompositeListener",
    "GuardedListener",
    "JournalLedger",
    "JournalRecorder",
    "PlanError",
    "PlanMismatchError",
    "PlanRunner",
    "RegimenSettings",
    "RequestError",
    "Resumption",
    "RunSummary",
    "RunnerState",
    "SessionEvent",
    "SessionListener",
    "SessionResult",
    "SessionRunner",
    "Step",
    "TherapyPlan",
    "UsageLedger",
    "check_plan_fits",
    "due_list",
    "heat_warning",
    "parse_plan",
    "remembered_site",
    "resolve_plan",
    "stop_task",
]

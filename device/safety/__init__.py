"""Safety: the limits, the files that may only tighten them, and the supervisor.

Pure rules with no I/O of their own - no asyncio, sqlite3, bleak, bumble or aiomqtt (an
import-linter contract keeps it so): a request, a Status and the time go in; a plan, clamps
and actions (stop the output, ask the user, note an event) come out. Reading a limits file
is the one exception: plain text from a path.
"""

from device.safety.aftercare import AfterStop, Verdict
from device.safety.dose import cem43_minutes
from device.safety.limits import DEFAULT_LIMITS, Limits, LimitsError, describe, plain_number
from device.safety.limits_file import (
    ConfigError,
    limits_from_table,
    line_of,
    load_limits,
    parse_limits,
    parse_toml,
    read_toml,
)
from device.safety.model import (
    NO_USAGE,
    Action,
    AskAttended,
    Clamp,
    EndReason,
    Note,
    Phase,
    Plan,
    SessionRequest,
    StopOutput,
    Tally,
    Usage,
)
from device.safety.planning import max_session_s, plan_session, request_problem
from device.safety.regimen import (
    ACUTE_H_DEFAULT,
    ACUTE_H_MAX,
    ACUTE_H_MIN,
    EPISODE_KINDS,
    Awake,
    Done,
    Due,
    EpisodeInfo,
    RegimenError,
    acute_heat_warning,
    adherence,
    check_acute_hours,
    due_slots,
    next_due,
)
from device.safety.sites import KNOWN_SITES, SITE_MAX_CHARS, SiteError, normalise_site
from device.safety.supervisor import Supervisor

__all__ = [
    "ACUTE_H_DEFAULT",
    "ACUTE_H_MAX",
    "ACUTE_H_MIN",
    "DEFAULT_LIMITS",
    "EPISODE_KINDS",
    "KNOWN_SITES",
    "NO_USAGE",
    "SITE_MAX_CHARS",
    "Action",
    "AfterStop",
    "AskAttended",
    "Awake",
    "Clamp",
    "ConfigError",
    "Done",
    "Due",
    "EndReason",
    "EpisodeInfo",
    "Limits",
    "LimitsError",
    "Note",
    "Phase",
    "Plan",
    "RegimenError",
    "SessionRequest",
    "SiteError",
    "StopOutput",
    "Supervisor",
    "Tally",
    "Usage",
    "Verdict",
    "acute_heat_warning",
    "adherence",
    "cem43_minutes",
    "check_acute_hours",
    "describe",
    "due_slots",
    "limits_from_table",
    "line_of",
    "load_limits",
    "max_session_s",
    "next_due",
    "normalise_site",
    "parse_limits",
    "parse_toml",
    "plain_number",
    "plan_session",
    "read_toml",
    "request_problem",
]

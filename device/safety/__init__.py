"""Safety: the limits, the files that may only tighten them, and the supervisor.

Pure rules with no I/O of their own - no asyncio, sqlite3, bleak, bumble or aiomqtt (an
import-linter contract keeps it so): a request, a Status and the time go in; a plan, clamps
and actions (stop the output, ask the user, note an event) come out. Reading a limits file
is the one exception: plain text from a path.
"""

from device.safety.dose import cem43_minutes
from device.safety.limits import DEFAULT_LIMITS, HARD_LIMITS, Limits, LimitsError
from device.safety.limits_file import (
    ConfigError,
    limits_from_table,
    line_of,
    load_limits,
    parse_limits,
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
from device.safety.planning import max_session_s, plan_session
from device.safety.supervisor import Supervisor

__all__ = [
    "DEFAULT_LIMITS",
    "HARD_LIMITS",
    "NO_USAGE",
    "Action",
    "AskAttended",
    "Clamp",
    "ConfigError",
    "EndReason",
    "Limits",
    "LimitsError",
    "Note",
    "Phase",
    "Plan",
    "SessionRequest",
    "StopOutput",
    "Supervisor",
    "Tally",
    "Usage",
    "cem43_minutes",
    "limits_from_table",
    "line_of",
    "load_limits",
    "max_session_s",
    "parse_limits",
    "plan_session",
    "read_toml",
]

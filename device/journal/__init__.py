"""The journal: every session, sample and safety event in one SQLite file.

The schema and its migrations, the writer thread (the control loop only enqueues), the
queries, and crash recovery: a session left open by a dead process is closed as
``interrupted`` the next time the journal is opened. Usage read back from here (daily light
time, the rest since heat) holds across restarts and processes. It may use ``sqlite3``,
``protocols`` and ``device.safety``'s types; it knows nothing of the link, sessions or MQTT.
"""

from device.journal.diary import (
    NOTE_MAX_CHARS,
    PAIN_MAX,
    PAIN_MIN,
    DiaryError,
    Episode,
    PainRating,
    check_rating,
    end_episode,
    mark_heat_warned,
    record_pain,
    start_episode,
)
from device.journal.reader import JournalReader, KnownDevice, SessionRow, reader
from device.journal.schema import (
    INTERRUPTED,
    MIGRATIONS,
    SAFETY_EVENT_KINDS,
    SCHEMA_VERSION,
    JournalError,
    default_path,
    iso,
)
from device.journal.writer import ALIAS_MAX_CHARS, JournalWriter

__all__ = [
    "ALIAS_MAX_CHARS",
    "INTERRUPTED",
    "MIGRATIONS",
    "NOTE_MAX_CHARS",
    "PAIN_MAX",
    "PAIN_MIN",
    "SAFETY_EVENT_KINDS",
    "SCHEMA_VERSION",
    "DiaryError",
    "Episode",
    "JournalError",
    "JournalReader",
    "JournalWriter",
    "KnownDevice",
    "PainRating",
    "SessionRow",
    "check_rating",
    "default_path",
    "end_episode",
    "iso",
    "mark_heat_warned",
    "reader",
    "record_pain",
    "start_episode",
]

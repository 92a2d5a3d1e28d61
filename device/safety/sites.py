"""Body sites: where on the body a session is applied. The body, not the device, takes the
dose, so the per-site limits add up every device used on one site. Pure: text in, a site
name (or :class:`SiteError`) out."""

from __future__ import annotations

import re

from protocols import TherapyctlError

SITE_MAX_CHARS = 40
# The usual places; any other short name is accepted too (free text, normalised).
KNOWN_SITES: tuple[str, ...] = (
    "lower-back",
    "upper-back",
    "neck",
    "shoulder-left",
    "shoulder-right",
    "knee-left",
    "knee-right",
    "abdomen",
    "hip-left",
    "hip-right",
    "elbow-left",
    "elbow-right",
    "wrist-left",
    "wrist-right",
    "ankle-left",
    "ankle-right",
)

_SEPARATORS = re.compile(r"[ _/]+")
_DASHES = re.compile(r"-{2,}")


class SiteError(TherapyctlError):
    """A body site that is empty, too long or not printable."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"body site: {reason}")


def normalise_site(text: str) -> str:
    """``" Lower Back "`` -> ``"lower-back"``: lower case, blanks and underscores as single
    dashes; raises :class:`SiteError` for an empty, over-long or unprintable name."""
    if not isinstance(text, str):
        raise SiteError(repr(text), "a site is text")
    if not text.isprintable():
        raise SiteError(text, "a site name must be printable text (no control characters)")
    site = _DASHES.sub("-", _SEPARATORS.sub("-", text.strip().lower())).strip("-")
    if not site:
        raise SiteError(text, f"give a site name, e.g. {', '.join(KNOWN_SITES[:3])}")
    if len(site) > SITE_MAX_CHARS:
        raise SiteError(text, f"a site name is at most {SITE_MAX_CHARS} characters")
    return site

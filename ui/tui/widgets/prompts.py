"""Modal questions: the attended-use check, resuming after a lost link, a device's alias and
body site, the pain question after a session, quitting while sessions run."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label

from device.journal import DiaryError, check_rating
from device.safety import KNOWN_SITES, SITE_MAX_CHARS, SiteError, normalise_site

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 64; max-width: 100%; height: auto; padding: 1 2;
    border: thick $warning; background: $panel; }}
{name} Horizontal {{ height: auto; margin-top: 1; }}
{name} Button {{ margin-right: 2; }}
"""


class AttendedPrompt(ModalScreen[bool]):
    """Heat: are you awake? A countdown that must be answered, or the heat stops.

    The countdown is a person's time: wall seconds from the moment the question arrives
    (``wall_left_s``, converted from the runner's device-time deadline by the caller), shown
    in whole seconds, one less each second, whatever the session's time scale.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter,y", "confirm", "I am awake")]
    DEFAULT_CSS = _MODAL_CSS.format(name="AttendedPrompt")

    def __init__(
        self,
        device_name: str,
        wall_left_s: float,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.device_name = device_name
        self._now = now
        self.deadline = now() + wall_left_s  # on ``now``'s clock (wall seconds)
        self.shown_s: int | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Heat on {self.device_name}: are you awake?")
            yield Label("Falling asleep on a heating pad causes burns.")
            yield Label(self._left_text(), id="left")
            yield Button("I am awake (Enter)", variant="warning", id="awake")

    def on_mount(self) -> None:
        # Often enough that the shown second changes within a tenth of the real one.
        self.set_interval(0.1, self._tick)

    def seconds_left(self) -> int:
        """Whole wall seconds left, rounded up: 30 until 29 s are left, then 29, ..."""
        return max(0, math.ceil(self.deadline - self._now() - 1e-6))

    def _left_text(self) -> str:
        self.shown_s = self.seconds_left()
        return f"Press Enter within {self.shown_s} s, or the heat stops."

    def _tick(self) -> None:
        if self.seconds_left() != self.shown_s:
            self.query_one("#left", Label).update(self._left_text())

    @on(Button.Pressed, "#awake")
    def action_confirm(self) -> None:
        self.dismiss(True)


class ResumePrompt(ModalScreen[bool]):
    """The link was lost and is back: resume what is left? Only ever on the user's word."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "resume", "Resume"),
        Binding("escape,n", "not_now", "Not now"),
    ]
    DEFAULT_CSS = _MODAL_CSS.format(name="ResumePrompt")

    def __init__(self, device_name: str, lines: list[str]) -> None:
        super().__init__()
        self.device_name = device_name
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"The link to {self.device_name} was lost.")
            for line in self.lines:
                yield Label(line)
            with Horizontal():
                yield Button("Resume (r)", variant="warning", id="resume")
                yield Button("Not now (Esc)", id="not-now")

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#not-now")
    def action_not_now(self) -> None:
        self.dismiss(False)


class AliasPrompt(ModalScreen[str | None]):
    """A name of your own for a device ("left knee"); empty clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = _MODAL_CSS.format(name="AliasPrompt")

    def __init__(self, device_name: str, alias: str | None) -> None:
        super().__init__()
        self.device_name = device_name
        self.alias = alias

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"An alias for {self.device_name} (empty: none), then Enter")
            yield Input(value=self.alias or "", max_length=40, id="alias")

    @on(Input.Submitted, "#alias")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SitePrompt(ModalScreen[str | None]):
    """The body site a device is used on: a known one (offered, completed with →) or a short
    name of your own, normalised (``Lower Back`` -> ``lower-back``); empty clears it. A name
    that is not a site is said here, and the question stays.

    Dismissed with the site, ``""`` to clear it, or None (Esc: unchanged)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = _MODAL_CSS.format(name="SitePrompt") + (
        "SitePrompt #site-error { color: $error; }\nSitePrompt #site-known { color: $text-muted; }"
    )

    def __init__(self, device_name: str, site: str | None, known: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.device_name = device_name
        self.site = site
        # The journal's sites first (in use), then the usual ones.
        self.known = tuple(dict.fromkeys((*known, *KNOWN_SITES)))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Body site of {self.device_name} (empty: none), then Enter")
            yield Input(
                value=self.site or "",
                max_length=SITE_MAX_CHARS + 10,  # room for blanks the name loses
                suggester=SuggestFromList(self.known, case_sensitive=False),
                id="site",
            )
            yield Label("", id="site-error")
            yield Label("e.g. " + ", ".join(self.known[:8]) + ", ...", id="site-known")

    @on(Input.Submitted, "#site")
    def submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.dismiss("")
            return
        try:
            self.dismiss(normalise_site(event.value))
        except SiteError as exc:
            self.query_one("#site-error", Label).update(f"Not a site: {exc.reason}.")

    def action_cancel(self) -> None:
        self.dismiss(None)


class PainPrompt(ModalScreen[int | None]):
    """After a session: pain now, 0-10? Skipping (Esc, or Enter on nothing) is always fine;
    a bad answer is said here and may be retried. Dismissed with the rating or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "skip", "Skip")]
    DEFAULT_CSS = _MODAL_CSS.format(name="PainPrompt") + "PainPrompt #pain-error { color: $error; }"

    def __init__(self, about: str) -> None:
        super().__init__()
        self.about = about  # "pad, heat on lower-back"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Session ended: {self.about}.")
            yield Label("Pain now, 0-10? (Enter or Esc to skip)", id="pain-question")
            yield Input(max_length=4, placeholder="0-10", id="pain")
            yield Label("", id="pain-error")
            yield Label("0 is no pain, 10 the worst imaginable.")

    @on(Input.Submitted, "#pain")
    def submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.dismiss(None)
            return
        try:
            self.dismiss(check_rating(event.value))
        except DiaryError:
            self.query_one("#pain-error", Label).update(
                f"{event.value.strip()!r} is not a rating: a whole number 0-10, or Esc to skip."
            )

    def action_skip(self) -> None:
        self.dismiss(None)


class QuitPrompt(ModalScreen[bool]):
    """Sessions are running: stop them and quit, or stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "stop_and_quit", "Stop and quit"),
        Binding("n,escape", "stay", "Stay"),
    ]
    DEFAULT_CSS = _MODAL_CSS.format(name="QuitPrompt")

    def __init__(self, labels: list[str]) -> None:
        super().__init__()
        self.labels = labels

    @property
    def question(self) -> str:
        count = len(self.labels)
        if count == 1:
            return f"1 session is running ({self.labels[0]}); stop it and quit?"
        return f"{count} sessions are running ({', '.join(self.labels)}); stop them and quit?"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            yield Label("Quitting turns every output off first.")
            with Horizontal():
                yield Button("Stop and quit (y)", variant="error", id="quit")
                yield Button("Stay (Esc)", id="stay")

    @on(Button.Pressed, "#quit")
    def action_stop_and_quit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.dismiss(False)

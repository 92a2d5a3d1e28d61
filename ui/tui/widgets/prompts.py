"""Modal questions: the attended-use check, resuming after a lost link, a device's alias."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 64; max-width: 100%; height: auto; padding: 1 2;
    border: thick $warning; background: $panel; }}
{name} Horizontal {{ height: auto; margin-top: 1; }}
{name} Button {{ margin-right: 2; }}
"""


class AttendedPrompt(ModalScreen[bool]):
    """Heat: are you awake? A countdown that must be answered, or the heat stops."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter,y", "confirm", "I am awake")]
    DEFAULT_CSS = _MODAL_CSS.format(name="AttendedPrompt")

    def __init__(self, device_name: str, seconds_left: Callable[[], float]) -> None:
        super().__init__()
        self.device_name = device_name
        self.seconds_left = seconds_left

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Heat on {self.device_name}: are you awake?")
            yield Label("Falling asleep on a heating pad causes burns.")
            yield Label(self._left_text(), id="left")
            yield Button("I am awake (Enter)", variant="warning", id="awake")

    def on_mount(self) -> None:
        self.set_interval(0.5, self._tick)

    def _left_text(self) -> str:
        left = max(0.0, self.seconds_left())
        return f"Press Enter within {left:.0f} s, or the heat stops."

    def _tick(self) -> None:
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

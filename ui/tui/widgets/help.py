"""The help modal (``?``, F1): every key that works on the screen below, from its live bindings.

What it lists is what Textual would do with each key right now (the focused widget's keys,
the screen's and the app's, remapped ones under their new keys), so it cannot drift from
the code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

HelpRow = tuple[str, str]  # (keys, what they do)


def help_rows(app: App[Any], bindings: Iterable[ActiveBinding]) -> list[HelpRow]:
    """One row per action: its keys (as the footer writes them) and its description. The
    app's keys first, then the screen's, then the focused widget's; ``tab(n)`` in one row."""
    order: list[tuple[int, str]] = []
    keys: dict[tuple[int, str], list[str]] = {}
    what: dict[tuple[int, str], str] = {}
    rank: dict[tuple[int, str], int] = {}
    tabs: list[str] = []
    for node, binding, _enabled, tooltip in bindings:
        display = app.get_key_display(binding)
        if binding.action.startswith("tab("):
            tabs.append(display)
            continue
        ident = (id(node), binding.action)
        if ident not in keys:
            order.append(ident)
            keys[ident] = []
            what[ident] = binding.description or tooltip or _plain(binding.action)
            rank[ident] = 0 if node is app else 1 if node is app.screen_stack[-1] else 2
        if display not in keys[ident]:
            keys[ident].append(display)
    rows = [(", ".join(keys[i]), what[i]) for i in sorted(order, key=lambda i: rank[i])]
    if tabs:
        rows.append((f"{tabs[0]}…{tabs[-1]}" if len(tabs) > 1 else tabs[0], "Go to that tab"))
    return rows


def _plain(action: str) -> str:
    return action.split("(", maxsplit=1)[0].removeprefix("app.").replace("_", " ").capitalize()


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below, with what each does; Esc (or ? again) closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "app.pop_screen", "Close help")
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 72; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $panel; }
    HelpScreen #help-title { text-style: bold; }
    HelpScreen DataTable { height: auto; max-height: 70vh; }  /* the rest: title, hint, border */
    HelpScreen #help-more { color: $text-muted; padding: 0 0 1 0; width: 100%; }
    """

    def __init__(self, rows: list[HelpRow], title: str) -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="help-title")
            # Above the keys: in a short terminal the list scrolls, this stays in view.
            yield Label(
                "ctrl+p: every action by name. Keys can be changed in the --config file's"
                " [keys] table. Esc closes this.",
                id="help-more",
                markup=False,  # "[keys]" is text, not a style
            )
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        table.add_columns("KEY", "WHAT IT DOES")
        for keys, what in self.rows:
            table.add_row(keys, what)
        table.focus()

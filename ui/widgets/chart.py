"""A session's chart in the terminal: temperature (or optical power) over the session's
minutes, with the active limit lines. Drawn by plotext (textual-plotext)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True, slots=True)
class LimitLine:
    """A horizontal line on the chart: a limit the supervisor enforces."""

    value: float
    label: str


class SessionChart(PlotextPlot):
    """Points arrive as they are measured; the chart redraws at most on each refresh."""

    DEFAULT_CSS = """
    SessionChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.minutes: list[float] = []
        self.values: list[float] = []
        self.unit = "°C"
        self.limits: tuple[LimitLine, ...] = ()
        self.span_min: float | None = None
        self._dirty = True

    def configure(
        self, unit: str, limits: tuple[LimitLine, ...], span_min: float | None = None
    ) -> None:
        """What is plotted: its unit, its limit lines and the session's planned length."""
        self.unit, self.limits, self.span_min = unit, limits, span_min
        self._dirty = True
        self.refresh()

    def clear_points(self) -> None:
        self.minutes.clear()
        self.values.clear()
        self._dirty = True
        self.refresh()

    def add_point(self, minute: float, value: float | None) -> None:
        """One reading; a missing one (``None``) is left as a gap, not bridged."""
        self.minutes.append(minute)
        self.values.append(math.nan if value is None else value)
        self._dirty = True

    def set_points(self, minutes: list[float], values: list[float | None]) -> None:
        self.minutes = list(minutes)
        self.values = [math.nan if v is None else v for v in values]
        self._dirty = True
        self.refresh()

    def flush(self) -> None:
        """Redraw if anything changed since the last redraw (called on a timer)."""
        if self._dirty:
            self.refresh()

    def render(self):  # type: ignore[no-untyped-def]
        self._dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("min")
        plt.ylabel(self.unit)
        points = zip(self.minutes, self.values, strict=True)
        known = [(m, v) for m, v in points if not math.isnan(v)]
        if known:
            plt.plot([m for m, _ in known], [v for _, v in known], marker="braille")
        for line in self.limits:
            plt.hline(line.value, "red")
        values = [v for _, v in known] + [line.value for line in self.limits]
        if values:
            low, high = min(values), max(values)
            pad = max(1.0, (high - low) * 0.1)
            plt.ylim(low - pad, high + pad)
        right = self.span_min or (self.minutes[-1] if self.minutes else 1.0)
        plt.xlim(0, max(right, 1.0))
        plt.title(
            "  ".join(f"── {line.label}" for line in self.limits) or f"{self.unit} over the session"
        )
        return super().render()

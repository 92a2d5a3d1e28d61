"""A session's chart in the terminal: temperature over the session's minutes and, for light
belts, optical power on a second axis, with the active limit lines. Drawn by plotext
(textual-plotext)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual_plotext import PlotextPlot

Axis = Literal["left", "right"]
MIN_SPAN = {"left": 6.0, "right": 100.0}  # °C, mW: a steady reading is not blown up to noise


@dataclass(frozen=True, slots=True)
class LimitLine:
    """A horizontal line on the chart: a limit the supervisor enforces."""

    value: float
    label: str
    axis: Axis = "left"


def limit_lines(
    modes: set[str], limits: Mapping[str, float], belt_max_mw: int | None = None
) -> tuple[LimitLine, ...]:
    """The lines of the limits that hold for these modes (``Limits.as_dict()`` names, as the
    journal keeps them): what the supervisor enforces, drawn where it would stop."""
    lines = []
    if "heat" in modes and "heat_ceiling_c" in limits:
        ceiling = limits["heat_ceiling_c"]
        lines.append(LimitLine(ceiling, f"heat limit {ceiling:g} °C"))
    if "cold" in modes and "cold_floor_c" in limits:
        floor = limits["cold_floor_c"]
        lines.append(LimitLine(floor, f"cold limit {floor:g} °C"))
    if "light" in modes and belt_max_mw is not None:
        lines.append(LimitLine(belt_max_mw, f"belt max {belt_max_mw} mW", "right"))
    return tuple(lines)


class SessionChart(PlotextPlot):
    """Points arrive as they are measured; the chart redraws on :meth:`flush` (a timer)."""

    DEFAULT_CSS = """
    SessionChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.minutes: list[float] = []
        self.values: list[float] = []  # temperature, °C (NaN: no valid reading)
        self.power: list[float] = []  # optical power, mW (belts only)
        self.show_power = False
        self.limits: tuple[LimitLine, ...] = ()
        self.span_min: float | None = None
        self._dirty = True

    def configure(
        self,
        limits: tuple[LimitLine, ...],
        span_min: float | None = None,
        *,
        show_power: bool = False,
    ) -> None:
        """Its limit lines, the session's planned length, and whether power is drawn."""
        self.limits, self.span_min, self.show_power = limits, span_min, show_power
        self._dirty = True
        self.refresh()

    def clear_points(self) -> None:
        self.minutes.clear()
        self.values.clear()
        self.power.clear()
        self._dirty = True
        self.refresh()

    def add_point(
        self, minute: float, temperature_c: float | None, power_mw: float | None = None
    ) -> None:
        """One reading; a missing one (``None``) is left as a gap, not bridged."""
        self.minutes.append(minute)
        self.values.append(math.nan if temperature_c is None else temperature_c)
        self.power.append(math.nan if power_mw is None else power_mw)
        self._dirty = True

    def set_points(
        self,
        minutes: list[float],
        temperatures: list[float | None],
        power: list[float | None] | None = None,
    ) -> None:
        self.minutes = list(minutes)
        self.values = [math.nan if v is None else v for v in temperatures]
        self.power = [math.nan if v is None else v for v in (power or [None] * len(minutes))]
        self._dirty = True
        self.refresh()

    def flush(self) -> None:
        """Redraw if anything changed since the last redraw."""
        if self._dirty:
            self.refresh()

    def _series(self, values: list[float]) -> tuple[list[float], list[float]]:
        pairs = [(m, v) for m, v in zip(self.minutes, values, strict=True) if not math.isnan(v)]
        return [m for m, _ in pairs], [v for _, v in pairs]

    def _ylim(self, axis: Axis, values: list[float]) -> tuple[float, float] | None:
        values = values + [line.value for line in self.limits if line.axis == axis]
        if not values:
            return None
        low, high = min(values), max(values)
        if axis == "right":  # power from zero
            return 0.0, max(high, MIN_SPAN[axis]) * 1.08
        span = max(high - low, MIN_SPAN[axis])
        middle = (low + high) / 2
        return middle - span * 0.58, middle + span * 0.58

    def _ticks(self, bounds: tuple[float, float], axis: Axis) -> list[float]:
        """A few round ticks, and each limit exactly, so its label sits on its line."""
        low, high = bounds
        limits = [line.value for line in self.limits if line.axis == axis]
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if (high - low) / s <= 5)
        ticks = [step * k for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
        close = (high - low) / 12  # a tick this near a limit would share its row
        return sorted({*limits, *(t for t in ticks if all(abs(t - v) > close for v in limits))})

    def render(self) -> Text:
        self._dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("min")
        x, y = self._series(self.values)
        if x:
            plt.plot(x, y, marker="braille", color="orange", label="°C")
        if self.show_power:
            px, py = self._series(self.power)
            if px:
                plt.plot(px, py, marker="braille", color="magenta", yside="right", label="mW")
        for line in self.limits:
            plt.hline(line.value, "red", yside=line.axis)
        if (left := self._ylim("left", y)) is not None:
            plt.ylim(*left, yside="left")  # type: ignore[arg-type]
            plt.yticks(self._ticks(left, "left"), yside="left")  # type: ignore[arg-type]
        if (
            self.show_power
            and (right := self._ylim("right", self._series(self.power)[1])) is not None
        ):
            plt.ylim(*right, yside="right")  # type: ignore[arg-type]
            plt.yticks(self._ticks(right, "right"), yside="right")  # type: ignore[arg-type]
        right_edge = self.span_min or (self.minutes[-1] if self.minutes else 1.0)
        plt.xlim(0, max(right_edge, 1.0))
        legend = "  ".join(f"── {line.label}" for line in self.limits)
        plt.title(legend or "temperature over the session")
        text: Text = super().render()  # type: ignore[assignment]
        return text

"""A session's chart in the terminal: temperature over the session's minutes and, for light
belts, optical power on a second axis, with the active limit lines and the paused time
shaded. The x axis spans the whole session: its planned length, stretched by the time paused,
and never shorter than the last reading. Drawn by plotext (textual-plotext)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual_plotext import PlotextPlot

Axis = Literal["left", "right"]
MIN_SPAN = {"left": 6.0, "right": 100.0}  # °C, mW: a steady reading is not blown up to noise
PAUSED_MARK = "░"  # the paused time's shading, and its legend
Pause = tuple[float, float | None]  # minutes: from, to (None: paused still)


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


def temperature_extremes(modes: set[str], max_c: float | None, min_c: float | None) -> str:
    """A session's telling temperatures: the peak of heat (and of a belt's skin), the lowest
    of cold; a cold session's highest reading is only where it began, never its "peak"."""
    modes = modes & {"heat", "cold", "light"}  # not "none" (readings with the output off)
    parts = []
    if max_c is not None and (not modes or modes - {"cold"}):
        parts.append(f"peak {max_c:.1f} °C")
    if min_c is not None and "cold" in modes:
        parts.append(f"lowest {min_c:.1f} °C")
    return "  ".join(parts)


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
        self.pauses: list[Pause] = []
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
        self.pauses.clear()
        self._dirty = True
        self.refresh()

    def set_pauses(self, pauses: list[Pause]) -> None:
        """The paused stretches (minutes), shaded; the last may still be open."""
        self.pauses = list(pauses)
        self._dirty = True

    def paused_min(self) -> float:
        """Minutes paused so far (an open pause up to the last reading)."""
        last = self.minutes[-1] if self.minutes else 0.0
        return sum(
            max(0.0, (end if end is not None else last) - start) for start, end in self.pauses
        )

    def x_max(self) -> float:
        """The right end of the x axis: the whole session, never cut at its plan."""
        last = self.minutes[-1] if self.minutes else 0.0
        planned = self.span_min + self.paused_min() if self.span_min else 0.0
        return max(planned, last, 1.0)

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

    def _shade_pauses(
        self, left: tuple[float, float] | None, right: tuple[float, float] | None
    ) -> None:
        """Each pause as a shaded band over the full height (drawn first: under the curves)."""
        side: Axis = "left" if left is not None or right is None else "right"
        bounds = left if side == "left" else right
        if bounds is None:
            return
        last = self.minutes[-1] if self.minutes else 0.0
        for start, end in self.pauses:
            stop = end if end is not None else last
            if stop > start:
                self.plt.plot(
                    [start, stop],
                    [bounds[1], bounds[1]],
                    marker=PAUSED_MARK,
                    color="gray",
                    fillx=True,
                    yside=side,
                )

    def render(self) -> Text:
        self._dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("min")
        x, y = self._series(self.values)
        left = self._ylim("left", y)
        right = self._ylim("right", self._series(self.power)[1]) if self.show_power else None
        self._shade_pauses(left, right)
        if x:
            plt.plot(x, y, marker="braille", color="orange", label="°C")
        if self.show_power:
            px, py = self._series(self.power)
            if px:
                plt.plot(px, py, marker="braille", color="magenta", yside="right", label="mW")
        for line in self.limits:
            plt.hline(line.value, "red", yside=line.axis)
        if left is not None:
            plt.ylim(*left, yside="left")  # type: ignore[arg-type]
            plt.yticks(self._ticks(left, "left"), yside="left")  # type: ignore[arg-type]
        if right is not None:
            plt.ylim(*right, yside="right")  # type: ignore[arg-type]
            plt.yticks(self._ticks(right, "right"), yside="right")  # type: ignore[arg-type]
        plt.xlim(0, self.x_max())
        legend = [f"── {line.label}" for line in self.limits]
        if self.pauses:
            legend.append(f"{PAUSED_MARK} paused")
        plt.title("  ".join(legend) or "temperature over the session")
        text: Text = super().render()  # type: ignore[assignment]
        return text

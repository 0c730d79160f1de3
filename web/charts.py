"""Server-side SVG line charts (no JavaScript, no external library)."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#1f6feb", "#d97706", "#059669", "#b91c1c", "#7c3aed", "#0e7490", "#a16207")
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 32, 16, 56


def _ticks(top: int) -> list[int]:
    step = max(1, -(-top // 4))
    return list(range(0, step * 4 + 1, step))


def line_chart(labels: list[str], series: dict[str, list[int]], *, title: str) -> Markup:
    """A line per series over the labels, with axes, gridlines and a legend."""
    ticks = _ticks(max((max(values) for values in series.values()), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(v: int) -> float:
        return TOP + plot_h - v * plot_h / ticks[-1]

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for i, label in enumerate(labels):
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {v}</title></circle>"
            )
        legend_x = LEFT + n * 170
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 22}" width="12" height="12" '
            f'fill="{colour}"/><text class="legend" x="{legend_x + 18}" '
            f'y="{HEIGHT - 12}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

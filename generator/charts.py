"""Small SVG charts drawn at build time (pure): seen without JavaScript, coloured by the stylesheet.

A chart is a bar a week: posts as the bar, the new topics among them as a bar inside it. Its
colours are classes (``intranet-chart__posts``, ``intranet-chart__topics`` in ``intranet.css``),
so the dark scheme recolours it; its name and description are in the SVG (``role="img"``), and
the page gives the numbers as a table too, for screen readers and for anyone who wants them.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from intranet.health import Week

BAR = 6  # width of a week's bar, in the chart's own units
GAP = 1
HEIGHT = 60  # of the tallest bar


def week_chart(weeks: Sequence[Week], ident: str, title: str, description: str, small: bool = False) -> Markup:
    """Bars of posts (and new topics within them) a week; ``ident`` names its title and description."""
    width = len(weeks) * (BAR + GAP)
    top = max((w.posts for w in weeks), default=0) or 1
    bars = []
    for i, week in enumerate(weeks):
        x = i * (BAR + GAP)
        for count, kind in ((week.posts, "posts"), (week.topics, "topics")):
            if count:
                h = max(round(count / top * HEIGHT, 1), 1)
                bars.append(
                    f'<rect class="intranet-chart__{kind}" x="{x}" y="{HEIGHT - h:g}" width="{BAR}" height="{h:g}"/>'
                )
    size = ' width="100%" height="24"' if small else ""
    svg = (
        f'<svg class="intranet-chart{" intranet-chart--small" if small else ""}" viewBox="0 0 {width} {HEIGHT + 1}"'
        f'{size} preserveAspectRatio="none" role="img" aria-labelledby="{ident}-t {ident}-d"'
        ' xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(description)}</desc>'
        f'<line class="intranet-chart__axis" x1="0" y1="{HEIGHT + 0.5}" x2="{width}" y2="{HEIGHT + 0.5}"/>'
        + "".join(bars)
        + "</svg>"
    )
    return Markup(svg)  # noqa: S704 - numbers and escaped text only

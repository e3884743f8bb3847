"""The health pages of a tree (pure): each community's, and the network's with every community side by side.

Their figures (:mod:`intranet.health`) are the tree's own, computed from the communities it shows
(:class:`generator.figures.Figures`); the chart is SVG drawn here (:mod:`generator.charts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from intranet import health, urls
from intranet.health import Authors, Health

from .charts import week_chart
from .plans import GeneratedPage, SitePlan
from .site_model import Site


def plan_health(site: Site, plan: SitePlan, slugs: Iterable[str] | None = None, index: bool = True) -> None:
    """The health pages of ``slugs`` (default: every community the tree shows) and (``index``) the
    network's, every community side by side. Their figures are the tree's own: computed from the
    communities it shows, as of the day of its latest post (:meth:`generator.figures.Figures.as_of`)."""
    as_of = site.figures.as_of(site.orders, site.tz)
    through = site.day(as_of - dt.timedelta(microseconds=1)) if as_of else ""
    days = health.RECENT_DAYS
    helpers = {"duration": health.duration_text, "share": health.share_text, "plural": health.plural}
    for slug in sorted(site.intranet.communities if slugs is None else set(slugs) & set(site.intranet.communities)):
        community = site.intranet.communities[slug]
        here = urls.health(slug)
        figures = figures_of(site, slug)
        context: dict[str, Any] = {}
        if figures is not None:
            weeks = figures.weeks
            first, last = weeks[0].start.strftime("%-d %b %Y"), weeks[-1].start.strftime("%-d %b %Y")
            description = (
                f"{health.plural(sum(w.posts for w in weeks), 'post')} and "
                f"{health.plural(sum(w.topics for w in weeks), 'new topic')} in the {len(weeks)} weeks from "
                f"{first}; the table below gives each week's numbers."
            )
            context = {
                "chart": week_chart(weeks, "chart", f"Posts and new topics a week in {community.name}", description),
                "first_week": first,
                "last_week": last,
                "top_week": max(w.posts for w in weeks),
            }
        html = site.render(
            "health.html", here, community=community, h=figures, through=through, days=days, **helpers, **context
        )
        plan.pages.append(GeneratedPage(here, f"{community.name}: health at a glance", html))
    if not index:
        return
    rows = []
    for community in site.communities_by_name():
        figures = figures_of(site, community.slug)
        chart = None
        if figures is not None:
            title = f"Posts a week in {community.name} over a year"
            chart = week_chart(figures.weeks, f"chart-{community.slug}", title, _weekly(figures), small=True)
        rows.append((community, figures, chart))
    here = urls.health()
    html = site.render("health-network.html", here, rows=rows, through=through, days=days, **helpers)
    plan.pages.append(GeneratedPage(here, "Health at a glance", html, in_nav=True))


def figures_of(site: Site, slug: str) -> Health | None:
    """Community ``slug``'s figures in ``site``'s tree (None: the tree shows no posts)."""
    return site.figures.of(slug, site.orders, Authors(site.intranet.people, site.by_email), site.tz)


def _weekly(figures: Health) -> str:
    """A small chart's description: the year's total and the busiest week."""
    top = max(figures.weeks, key=lambda w: (w.posts, w.start))
    total = sum(w.posts for w in figures.weeks)
    return f"{health.plural(total, 'post')} in {len(figures.weeks)} weeks; the busiest, {top.posts}."

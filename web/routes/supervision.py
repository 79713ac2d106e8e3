"""The supervision page of coordinators and administrators (issue 18): open risks, overdue visits and
follow-ups, requests not served per need, breakdowns by flag and accessibility need, the communities'
map; its exports and printable monthly report. The figures come from the snapshot an arq cron writes
(alliance/targets/supervision.py): no request computes them."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, Principal, require
from alliance.core.codes import NeedCode, RiskAspect
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.notifications.outbox import add_job
from alliance.targets import scopes, supervision
from alliance.targets.models import SupervisionSnapshot
from web.auth import client_address, require_principal
from web.charts import Bar, MapPoint, bar_chart, shade_limits, shade_of, symbol_map
from web.jobs import relay_outbox
from web.params import int_param
from web.routes.exports import start_export
from web.templating import render

_MONTH = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")


async def _scope(request: Request, principal: Principal) -> scopes.Scope:
    require(principal, Action.VIEW_TARGETS)
    code = request.query_params.get("region", "").strip()[:12]
    return await scopes.scope_for(principal, code or None)


def _query(scope: scopes.Scope) -> str:
    return f"region={scope.region_code}" if scope.region_code else ""


async def _snapshot(request: Request, scope: scopes.Scope) -> SupervisionSnapshot | None:
    """The scope's snapshot; when there is none yet, a worker is asked for it (once: the job id is
    the scope's) and the page says it is being prepared."""
    snapshot = await supervision.snapshot_for(scope)
    if snapshot is None:
        job_id = supervision.snapshot_job_id(scope.region_code)
        await add_job("refresh_supervision", scope.region_code or "", job_id=job_id)
        await relay_outbox(request.app, [job_id])
    return snapshot


def _need(request: Request) -> str:
    need = request.query_params.get("need", "").strip()
    return need if need in {code.value for code in NeedCode} else ""


def _region(row: dict[str, Any]) -> str:
    return scopes._region_name(row["name"], row.get("name_en") or "")


def _view(figures: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """What the template shows, from the snapshot's JSON."""
    risks = figures["risks"]
    aspects = [aspect.value for aspect in RiskAspect]
    communities = figures["communities"]
    placed = [row for row in communities if row["lat"] is not None and row["lon"] is not None]
    top = max([row["unserved_households"] for row in communities] + [0])
    by_need = figures["unserved"]["by_need"]
    return {
        "risk_rows": [(aspect, risks.get(aspect, {})) for aspect in aspects],
        "risk_total": sum(risks.get(aspect, {}).get("total", 0) for aspect in aspects),
        "risk_buckets": supervision.RISK_AGE_BUCKETS,
        "overdue": figures["overdue"],
        "unserved": figures["unserved"],
        "need_rows": [(code, names.get(code, label(code)), count) for code, count in by_need.items()],
        "flag_rows": sorted(
            ((code, row) for code, row in figures["flags"].items() if row["households"]),
            key=lambda item: (-item[1]["unserved_needs"], -item[1]["households"], item[0]),
        ),
        "accessibility_rows": list(figures["accessibility"].items()),
        "communities": [
            {**row, "label": _region(row), "shade": shade_of(row["unserved_households"], top)}
            for row in communities
        ],
        "legend": shade_limits(top),
        "map": symbol_map(
            _("Households waiting, by community"),
            _(
                "{placed} of {count} communities drawn at their centre; the darker, the more households waiting."
            ).format(placed=len(placed), count=len(communities)),
            [
                MapPoint(_region(row), row["lat"], row["lon"], row["unserved_households"], row["households"])
                for row in placed
            ],
        ),
        "needs_chart": bar_chart(
            _("Requests not served, per need"),
            _("{count} requests waiting in all.").format(count=figures["unserved"]["needs_total"]),
            [Bar(names.get(code, label(code)), count) for code, count in list(by_need.items())[:12]],
        ),
        "days": figures["days"],
    }


async def supervision_page(request: Request) -> Response:
    principal = await require_principal(request)
    scope = await _scope(request, principal)
    snapshot = await _snapshot(request, scope)
    need = _need(request)
    page = int_param(request.query_params, "page", 1, maximum=100_000)
    names = await supervision.need_names()
    context: dict[str, Any] = {
        "scope": scope,
        "snapshot": snapshot,
        "query": _query(scope),
        "need": need,
        "page": page,
        "names": names,
        "trail": await scopes.region_breadcrumb(principal, scope),
        "now_month": supervision.month_key(utc_now()),
    }
    rows: list[supervision.UnservedNeed] = []
    if snapshot is not None:
        days = snapshot.figures["days"]
        rows, more = await supervision.unserved_needs(scope, need, page, days=days)
        context.update(
            _view(snapshot.figures, names),
            rows=rows,
            more=more,
            as_of=aware(snapshot.computed_at).astimezone(LOCAL_TZ),
        )
    if rows:
        # The names shown, like the unserved list's.
        await audit.viewed(
            principal,
            "supervision.view",
            households=sorted({row.household_id for row in rows}),
            requests=[row.request_id for row in rows],
            address=client_address(request),
        )
    return render(request, "cockpit/supervision.html", context)


async def supervision_report(request: Request) -> Response:
    principal = await require_principal(request)
    scope = await _scope(request, principal)
    snapshot = await _snapshot(request, scope)
    now = utc_now()
    wanted = request.query_params.get("month", "").strip()
    month = wanted if _MONTH.match(wanted) else supervision.month_key(now)
    names = await supervision.need_names()
    context: dict[str, Any] = {
        "scope": scope,
        "snapshot": snapshot,
        "query": _query(scope),
        "month": month,
        "printed_at": now.astimezone(LOCAL_TZ),
        "month_figures": None,
        "months": [],
    }
    if snapshot is not None:
        context.update(
            _view(snapshot.figures, names),
            as_of=aware(snapshot.computed_at).astimezone(LOCAL_TZ),
            month_figures=snapshot.figures.get("months", {}).get(month),
            months=sorted(snapshot.figures.get("months", {}), reverse=True),
        )
    # Figures only, no one's name: nothing to audit.
    return render(request, "cockpit/supervision_report.html", context)


async def _export(request: Request, kind: str) -> Response:
    principal = await require_principal(request)
    scope = await _scope(request, principal)
    return await start_export(request, principal, kind, {"region": scope.region_code, "need": _need(request)})


async def export_csv(request: Request) -> Response:
    return await _export(request, "unserved_needs_csv")


async def export_xlsx(request: Request) -> Response:
    return await _export(request, "unserved_needs_xlsx")


routes = [
    Route("/cockpit/supervision", supervision_page, methods=["GET"], name="cockpit_supervision"),
    Route(
        "/cockpit/supervision/report", supervision_report, methods=["GET"], name="cockpit_supervision_report"
    ),
    Route(
        "/cockpit/supervision/export.csv",
        export_csv,
        methods=["GET", "POST"],
        name="cockpit_supervision_export_csv",
    ),
    Route(
        "/cockpit/supervision/export.xlsx",
        export_xlsx,
        methods=["GET", "POST"],
        name="cockpit_supervision_export_xlsx",
    ),
]

"""Jinja2 with gettext, rendering either a whole page or one block of it (jinja2-fragments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments import render_block
from starlette.requests import Request
from starlette.responses import HTMLResponse

from alliance.core import i18n
from alliance.core.access import allows
from alliance.core.labels import label
from alliance.core.privacy import distance_band
from alliance.core.timeutil import to_local
from alliance.matching.claims import TransitionKind, transition_label
from web.htmx_hooks import vary_on_htmx, wants_fragment

TEMPLATE_DIR = Path(__file__).parent / "templates"
HTMX_VERSION = "2.0.11"


def _local_time(moment: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(moment)
    return local.strftime(fmt) if local else ""


def _transition_reason(reason: str) -> str:
    """A stored transition reason ("claim", "claim: note") in the reader's language."""
    kind, _sep, note = (reason or "").partition(": ")
    if kind in TransitionKind.__members__.values():
        return f"{transition_label(kind)} · {note}" if note else transition_label(kind)
    return reason or ""


def _project_name(project: Any) -> str:
    """A project's name in the reader's language (the English name when one is set)."""
    if i18n.current_language() == "zh_CN":
        return project.name
    return getattr(project, "name_en", "") or project.name


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        enable_async=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        label=label,
        project_name=_project_name,
        allows=allows,
        distance_band=distance_band,
        languages=i18n.LANGUAGES,
        current_language=i18n.current_language,
        htmx_file=f"vendor/htmx-{HTMX_VERSION}.min.js",
    )
    env.filters["local_time"] = _local_time
    env.filters["transition_reason"] = _transition_reason
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The whole page, or only `block` when HTMX asked for a piece of the page."""
    env: Environment = request.app.state.templates
    full_context = {
        "request": request,
        "principal": getattr(request.state, "principal", None),
        "inbox_unread": getattr(request.state, "inbox_unread", 0),
        "csrf_token": request.scope.get("csrf_token", ""),
        **(context or {}),
    }
    if block and wants_fragment(request):
        content = render_block(env, template, block, full_context)
    else:
        content = env.get_template(template).render(full_context)
    return vary_on_htmx(HTMLResponse(content, status_code=status_code))  # type: ignore[return-value]

"""The web edge: Starlette app, routes, templates and the command line."""

from web.params import register_convertors

# Before any route is built: `{id:int}` matches only 1..2^31-1 (web/params.py).
register_convertors()

"""The web edge: Starlette app, routes, templates and the command line."""

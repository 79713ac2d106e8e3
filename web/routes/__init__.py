"""Routes grouped by area; each module exposes `routes`."""

"""Alliance: the domain. Models and services; imports neither Starlette nor arq."""

"""The ASGI adapter in FastAPI and Starlette apps."""

"""FastAPI routers, one module per family of routes."""

"""The HTTP API: a FastAPI app (routes under /api) that function_app.py hands to the host."""

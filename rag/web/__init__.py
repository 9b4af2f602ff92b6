"""`rag serve`: the HTTP API (server.py, routes.py, its OpenAPI schema for /docs in openapi.py)
and the Gradio chat mounted beside it (webapp.py, handlers.py, ui.py, uploads.py, page.py)."""

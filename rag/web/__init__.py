"""`rag serve`: the HTTP API (server.py, routes.py) and the Gradio chat mounted beside it
(webapp.py, handlers.py, ui.py, uploads.py)."""

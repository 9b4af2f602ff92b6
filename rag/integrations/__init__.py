"""The Python API for other apps (retriever.py) and its llama-index and LangChain faces."""

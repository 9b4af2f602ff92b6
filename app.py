"""`python app.py [--host H] [--port P] [--index DIR]` is `rag serve`: the chat and the HTTP API.

Kept so that habits and deployment scripts keep working; the code lives in rag/web/server.py.
"""

import sys

from rag.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

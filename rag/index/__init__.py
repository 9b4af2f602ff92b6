"""The index: articles in (corpus, chunking, embedding, ingest) and passages out (retrieval).

Chroma holds the passage and sentence vectors (store.py, chroma.py), an in-process BM25
snapshot the keywords (bm25.py, snapshot.py); ingest keeps them in step, crash-safe.
"""

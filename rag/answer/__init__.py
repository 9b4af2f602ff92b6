"""From retrieved passages to a cited answer: sentence features (features.py), their ranking
(ranking.py), the one answer decision (decision.py), the extractive answer (extractive.py),
and the optional LLM answer with its citations checked (generate.py, citations.py, llm.py).
"""

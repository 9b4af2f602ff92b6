"""Measuring the system: answer quality over gold questions (evaluation.py, reports.py) and
speed (bench.py, benchreport.py, over archives built by recombine.py)."""

"""Keyword rules: the query language (query.py), text folding and the per-article index (text.py),
rule files (files.py) and matching an article against every rule (matching.py).

Everything here is pure except files.py, which reads the rule files and nothing else.
"""

"""Keyword rules: the query language (query.py, evaluate.py, ruleset.py), rules and the rule book (book.py),
rule files (files.py) and matching an article against every rule (matching.py). Folding, tokenising and
the per-article index they read live in monitor/text/tokens.py.

Everything here is pure except files.py, which reads the rule files and nothing else.
"""

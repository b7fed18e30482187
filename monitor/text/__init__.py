"""The language layer every judge uses: folding, tokenising and the per-article index (tokens.py), a lexicon
of places, stop words and names (lexicon.py), counts written in text (numbers.py), and sentences and the
parts of an article (sentences.py).

Pure: stdlib only, no I/O.
"""

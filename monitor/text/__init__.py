"""The language layer every judge uses: folding, tokenising and the per-article index (tokens.py), a lexicon
of places, stop words and names (lexicon.py), counts written in text (numbers.py), sentences and the parts of
an article (sentences.py), and the characters no stored text may carry (scrub.py).

Pure: stdlib only, no I/O.
"""

"""The language layer every judge uses: a lexicon of places, stop words and names (lexicon.py), counts written
in text (numbers.py), and sentences and the parts of an article (sentences.py).

Pure: stdlib only, no I/O.
"""

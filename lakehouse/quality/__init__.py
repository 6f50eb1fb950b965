"""Quality layer: Great Expectations behind one module, results and scores, the quality report and
site.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

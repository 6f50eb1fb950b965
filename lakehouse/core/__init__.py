"""Core layer: what every layer may use: errors, settings, SQL quoting, durations, the reserved column
names, the four quality dimensions, strict YAML (pure, or reading config files).

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

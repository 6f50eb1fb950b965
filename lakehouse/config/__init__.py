"""Config layer: typed models of what `lake_config/` says: the dataset specs and `access.yaml`.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

"""Serving layer: what users and partners read: Trino security, the DCAT catalogs, usage and audit,
Trino's event receiver, Delta Sharing.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

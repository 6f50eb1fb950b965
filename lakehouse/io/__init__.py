"""I/O layer: the only modules that call a library's I/O API: the Spark session, Delta, S3, Trino, the
source database, the installer.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

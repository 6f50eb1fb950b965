"""Engine layer: what turns landed files into rows and rows into silver: file checks, readers, pure
transforms, the job harness, the run log.

Each module, what it imports and the layer rules: lakehouse/README.md.
"""

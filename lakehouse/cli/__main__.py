"""`python -m lakehouse.cli …` is `lake …`."""

from lakehouse.cli import main

main()

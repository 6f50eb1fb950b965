"""``python -m lakehouse.serving.sharing --host H --port P``: the Delta Sharing server `lake up sharing` starts."""

from lakehouse.serving.sharing.server import main

main()

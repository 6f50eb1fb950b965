"""``python -m lakehouse.sharing --host H --port P``: the Delta Sharing server `lake up sharing` starts."""

from lakehouse.sharing.server import main

main()

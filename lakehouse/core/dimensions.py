"""The quality dimensions, in the order every score, report and catalog lists them (pure, no other module).

Data is kept "đúng – đủ – sạch – sống": correct, complete, clean, current.  A rule's
``dimension`` in a spec is one of these (`spec.Dimension`).
"""

DIMENSIONS = ("dung", "du", "sach", "song")

"""2-D toy studies of the poster (score field on a circle, mixing on a two-mode mixture) and the cost
of the score-matching objectives as the dimension grows. One command per study (``ncsn.cli``)."""

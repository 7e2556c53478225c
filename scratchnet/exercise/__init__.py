"""The Practice track: the learner writes each backward, and the parity suite grades it.

``scratchnet exercise list|start|check|hint|solution`` (:mod:`.cli`) over a workspace
of one file per exercise (:mod:`.workspace`), in the lectures' order
(:mod:`.catalogue`). ``check`` runs the parity suite's hypothesis strategies
(:mod:`scratchnet.testing.strategies`), restricted to the exercise's scope
(:mod:`.properties`), against torch or finite differences (:mod:`.oracle` picks one
of :mod:`scratchnet.testing`'s oracles), shrinks a failure and names known mistakes
(:mod:`.grader`, :mod:`.diagnoses`). ``train --ops DIR``
(:mod:`.capstone`) trains a lecture model on the learner's passed ops.

Importing this package imports neither torch nor hypothesis.
"""

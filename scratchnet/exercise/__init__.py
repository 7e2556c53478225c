"""The Practice track: the learner writes each backward, and the parity suite grades it.

``scratchnet exercise list|start|check|hint|solution`` (:mod:`.cli`) over a workspace
of one file per exercise (:mod:`.workspace`), in the lectures' order
(:mod:`.catalogue`). ``check`` runs the parity suite's hypothesis strategies
(:mod:`scratchnet.testing.strategies`), restricted to the exercise's scope
(:mod:`.properties`), against torch or finite differences (:mod:`.oracle` picks one
of :mod:`scratchnet.testing`'s oracles), judges each call with its arguments in every
memory layout (:mod:`.case`, :mod:`.judge`), shrinks a failure and names known
mistakes (:mod:`.grader`, :mod:`.diagnoses`), and writes it out as a script that
reproduces it (:mod:`.repro`). ``train --ops DIR`` (:mod:`.capstone`) trains a
lecture model on the learner's passed ops, once each has given the textbook's numbers
on the calls the model makes (:mod:`.readiness`).

Importing this package imports neither torch nor hypothesis.
"""

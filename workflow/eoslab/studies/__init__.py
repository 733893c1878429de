"""The studies built on the eoslab engine, one subpackage each.

A study ``<name>`` (the same short name as its config section and its output folder
``{results}/<name>/``) keeps here what belongs to that paper alone: its experiment loops, its
tables and claims, and its figures.  Whatever it needs from models, criteria, curvature,
eigensolvers, optimizers or data lives in the engine (``eoslab.*``), tested like the rest; the
engine never imports a study.  Every study has a ``cli`` module with ``main(argv) -> int``, reached
as ``eoslab study <name> ...``; docs/architecture.md lists the modules each has and why they differ.
"""

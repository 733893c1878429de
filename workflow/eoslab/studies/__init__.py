"""The companion studies built on the eoslab engine, one subpackage each.

A study ``<name>`` (the same short name as its config section and its output folder
``{results}/<name>/``) keeps here what belongs to that paper alone: its experiment loops,
its tables and claims, and its figures.  Whatever it needs from models, criteria, curvature,
eigensolvers, optimizers or data lives in the engine (``eoslab.*``), tested like the rest.
A study with a command line has a ``cli`` module with ``main(argv) -> int``, reached as
``eoslab study <name> ...``.

The first study, ``jacobian_alignment`` (Lowell & Kastner 2024), predates this package: its
modules are ``eoslab.aggregate``, ``eoslab.powerlaw``, ``eoslab.claims``, ``eoslab.tables`` and
``eoslab.figures``, and its commands are the top-level ``eoslab aggregate | table | figure``.
"""

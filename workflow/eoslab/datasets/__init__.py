"""The paper's four data sets, prepared as pools, and seeded subsets of them.

:mod:`~eoslab.datasets.prepare` turns raw data into pools (one per data set);
:mod:`~eoslab.datasets.pools` draws the subsets that training reads.
"""

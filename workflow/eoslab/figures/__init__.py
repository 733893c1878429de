"""Figures of the paper, each a function that writes ``.pdf`` and ``.png`` atomically."""

"""Planted-bug corpus: each Case pairs a clean hand-written network with one buggy twin."""

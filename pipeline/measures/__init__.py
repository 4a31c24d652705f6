"""Measures per channel, service and team over weeks or months (plain Python).

`stats` has the statistics (Wilson, NPS margin), `compute` the cells and the suppression
rule, `ports` the read model they need from the warehouse. Definitions: docs/measures.md.
"""

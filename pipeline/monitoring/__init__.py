"""Monitoring: control charts per service and channel (plain Python, no transport).

`cusum` designs Bernoulli CUSUM charts with an exact in-control run length, `charts` runs
one chart through warm-up, watch and alarm, `cell` keeps the charts of one (dienst,
kanaal), `outcomes` turns contacts and signals into the watched outcomes and `evaluate`
measures detection delay and false alarms on simulated data.
"""

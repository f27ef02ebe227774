"""The lecture's architecture, running for real on one machine: nginx balancing cloned,
stateless front ends (a Django site, a Flask shop, a FastAPI cart, two processes each), two
sessionserver daemons on a three-node Redis Cluster, the front ends' clients failing over
between the daemons.  From the repository's root:

    python -m examples.cluster up      # prints the shop's address and the dashboards'
    python -m examples.cluster down

See ``stack.py`` for what runs where.
"""

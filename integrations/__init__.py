"""Drop-in session interfaces: ``sessionserver.integrations.flask`` and
``sessionserver.integrations.django``.

This folder is installed as ``sessionserver.integrations`` (``sessionserver/integrations``
links to it), never as a top-level ``integrations`` package.
"""

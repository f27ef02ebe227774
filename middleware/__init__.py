"""Session middleware for any WSGI (``sessionserver.middleware.wsgi``) or ASGI
(``sessionserver.middleware.asgi``) application.

This folder is installed as ``sessionserver.middleware`` (``sessionserver/middleware`` links to
it), never as a top-level ``middleware`` package.
"""

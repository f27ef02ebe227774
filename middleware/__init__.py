"""Session middleware for any WSGI (``middleware.wsgi``) or ASGI (``middleware.asgi``) app."""

"""The account site: Django under gunicorn, at ``/account/``: sign in, see your orders, sign
out everywhere."""

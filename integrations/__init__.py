"""Drop-in session interfaces: ``integrations.flask`` and ``integrations.django``."""

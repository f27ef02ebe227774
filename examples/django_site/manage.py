"""A minimal Django site whose sessions live in the session server.

sessionserver serve &                                   # the daemon, on 127.0.0.1:9090
python examples/django_site/manage.py runserver 8004    # http://127.0.0.1:8004/
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here), str(here.parents[1])]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

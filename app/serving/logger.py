"""gunicorn's logger without access lines: the app logs every request itself.

gunicorn builds an access line's fields for every request whenever a logging config is given, as
app/serving/gunicorn_conf.py's is, even with ``accesslog`` unset and no handler on
``gunicorn.access``: about 2% of a worker's time under load (py-spy), for lines nobody reads.
"""

from __future__ import annotations

from gunicorn.glogging import Logger as _Logger


class Logger(_Logger):
    @property
    def access_log_enabled(self) -> bool:
        """Read by gunicorn's protocol handlers and ``access`` before building a line."""
        return False

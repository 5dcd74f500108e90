"""Silencing a library's warnings for the length of a call, safely in a threaded server.

``warnings.catch_warnings`` saves and restores the *process-wide* filter list: two threads
inside it at once restore each other's state, and a warning one of them silenced escapes in
the other (seen: esda's DeprecationWarning turned into a 500 on the map wall while another
request classified a choropleth). Every such section of ours goes through ``ignoring``, which
lets one thread at a time in. (Named with a trailing underscore so it does not shadow the
standard library's module.)
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager

_LOCK = threading.RLock()


@contextmanager
def ignoring(category: type[Warning] = Warning, message: str = ""):
    """Inside: warnings of ``category`` whose text starts with the regex ``message`` are
    ignored (all of that category when ``message`` is empty)."""
    with _LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield

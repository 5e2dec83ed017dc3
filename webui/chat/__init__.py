"""The web chat's public endpoint: the widget script and its API, on a port of its own that
serves nothing else of the box (served by Twisted, not by the WSGI threads)."""

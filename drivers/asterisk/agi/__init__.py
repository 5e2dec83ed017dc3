"""FastAGI: codec (sans-IO), per-call session with typed commands, the server."""

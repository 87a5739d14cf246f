"""The look-alike web app: a JSON API and a plain HTML page, served by one process.

Run it with ``run_server(create_app(db, allowed_hosts=allowed_hosts_for(host)), host, port)``:
uvicorn with head/body/keep-alive timeouts and a concurrency limit (``server_settings()``).
"""

from faceatlas.web.app import DEFAULT_MAX_UPLOAD, create_app
from faceatlas.web.guard import allowed_hosts_for
from faceatlas.web.server import run_server, server_settings

__all__ = ["DEFAULT_MAX_UPLOAD", "allowed_hosts_for", "create_app", "run_server", "server_settings"]

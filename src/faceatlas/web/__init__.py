"""The look-alike web app: a JSON API and a plain HTML page, served by one process."""

from faceatlas.web.app import DEFAULT_MAX_UPLOAD, create_app

__all__ = ["DEFAULT_MAX_UPLOAD", "create_app"]

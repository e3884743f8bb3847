"""Reads an intranet's content and builds its MkDocs Material site."""

__version__ = "0.1.0"

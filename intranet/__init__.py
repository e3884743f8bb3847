"""The shared core of the intranet: on-disk format, settings, addresses, threading, the model and the CLI.

`generator` (the site) and `mailgateway` (mail in and out) both import it; neither imports the other.
"""

__version__ = "0.1.0"

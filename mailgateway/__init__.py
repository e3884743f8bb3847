"""The mail gateway: SMTP/LMTP intake, spool, and mail to subscribers.

Not built yet: see issue #3 (email in) and #4 (email out). It will write
posts through :mod:`intranet.format`, the owner of the on-disk format.
"""

"""The typed protocol between the operator and the host agent.

One frozen dataclass per operation's request and reply (the modules here, grouped by
phase), encoded as one JSON line each way by `codec`. `catalog.CATALOG` lists every
operation; the agent decodes requests with it at its boundary, the operator decodes
replies. This package imports nothing itself, so a caller loads only the parts it uses.
"""

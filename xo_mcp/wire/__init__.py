"""The private protocol between the fleet's gateway and its workers (one per XO instance).

The gateway speaks MCP to clients; between it and a worker only typed messages travel, as JSON
lines over the worker's unix socket (`messages`, `framing`), and the worker's exit codes tell
the launcher how it stopped (`exits`). Both ends import this package; neither imports the other.
"""

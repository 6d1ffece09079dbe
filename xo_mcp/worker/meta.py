"""`_meta` keys the worker and the gateway exchange (namespaced, as MCP asks)."""

CONFIRM_META_KEY = "io.github.xo-mcp/confirmation"  # result: a token was issued, nothing ran
PRINCIPAL_META_KEY = "io.github.xo-mcp/principal"  # request: which gateway client is calling
MCP_DISABLED_META_KEY = "io.github.xo-mcp/mcp-disabled"  # result: XO's kill switch answered

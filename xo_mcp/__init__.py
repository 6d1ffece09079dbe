"""xo-mcp: MCP server and fleet gateway for Xen Orchestra."""

__version__ = "0.1.0"

"""What every MCP front of xo-mcp shares: the standalone worker's server and the gateway's
surfaces confirm actions the same way (`confirmations`, `elicitation`), offer the same prompt
(`prompts`), check arguments alike (`arguments`), list tools in the same compact form when asked
(`compact`), and reach past the SDK's public API in one place only (`sdk_adapter`).

Imports nothing heavy at package level: a fleet worker never loads the MCP SDK (`arguments` and
`compact` are plain functions it uses too).
"""

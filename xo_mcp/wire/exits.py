"""The worker's exit codes, documented in the README: the launcher and supervisord rely on them."""

EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected error while serving: worth a restart
EXIT_CONFIG = 2  # missing or contradictory settings: fix the configuration first
EXIT_MCP_DISABLED = 3  # XO's administrator disabled MCP: do not restart in a loop
EXIT_UNAVAILABLE = 4  # could not start (XO unreachable, credentials refused, invalid spec): retry

# What a worker says when XO's kill switch is on (its last-error file, its tool errors).
MCP_DISABLED = "MCP disabled by admin"

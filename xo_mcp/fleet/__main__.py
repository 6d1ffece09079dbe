from xo_mcp.fleet.cli import main

main()

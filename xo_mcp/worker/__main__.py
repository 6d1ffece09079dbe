from xo_mcp.worker.cli import main

main()

from xo_mcp.sim.cli import main

main()

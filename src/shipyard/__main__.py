from shipyard.cli.entry import run

run()

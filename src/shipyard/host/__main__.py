import sys

from shipyard.host.agent import main

if __name__ == "__main__":
    request = sys.argv[sys.argv.index("--request") + 1] if "--request" in sys.argv else None
    sys.exit(main(sys.argv[1], request))

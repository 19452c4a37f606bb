import sys

from faults.run import main

if __name__ == "__main__":  # importing the package's entry (a check, a tool) must not run the suite
    sys.exit(main())

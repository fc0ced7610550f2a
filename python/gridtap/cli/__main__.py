import sys

from gridtap.cli import main

sys.exit(main())

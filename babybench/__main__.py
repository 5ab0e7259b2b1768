import sys

from babybench.cli import main

sys.exit(main())

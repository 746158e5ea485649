import sys

from gui_grpo.cli import main

sys.exit(main())

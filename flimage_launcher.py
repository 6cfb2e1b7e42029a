"""Entry point of the frozen (PyInstaller) app: the same `flimage-app` command as pip installs."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from flimage_app.cli import main

    sys.exit(main())

"""``python -m flimage_app`` runs the ``flimage-app`` command."""

from .cli import main

raise SystemExit(main())

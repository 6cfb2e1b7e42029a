"""The vendored upstream suites run in their own process (tests/test_upstream_suites.py)."""

collect_ignore_glob = ["flimage-*", "qpimage-*", "shim", "plugin"]

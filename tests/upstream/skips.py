"""Upstream tests that check a private detail of flimage or qpimage, not behaviour the app shares.

One place for the list: ``upstream_plugin`` skips each of these with its
reason when the suites run against the app (``tests/test_upstream_suites.py``);
the same tests run, unskipped, against the real packages.
"""

#: "<suite>/<file>::<test>" → why it does not apply to the app
SKIPS: dict[str, str] = {
    "flimage/test_core_convenience.py::test_repr":
        "prints `fli._fl`, flimage's private qpimage.QPImage behind an FLImage; the app keeps "
        "the same HDF5 layout without a qpimage object",
}

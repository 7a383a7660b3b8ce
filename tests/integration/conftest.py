"""Loads the integration tests' fixtures as pytest plugins; the fixtures and
helpers themselves are in aos_fixtures.py (and the *_support.py modules
below).  Tests request fixtures by name and import helpers from those
modules, never from this file (its __getattr__ still forwards an old
`from conftest import X`, with a DeprecationWarning, until none is left).

Run from the repository root (ctest does) with AOS_BUILD_DIR set to the build
directory, or by hand: `.venv/bin/python -m pytest tests/integration`.
"""

import os
import sys
from pathlib import Path

# tests/ on the path: the peers package (OpenBao, pypiserver, verdaccio).
sys.path.insert(0, str(Path(os.environ.get("AOS_SOURCE_DIR")
                            or Path(__file__).resolve().parents[2]) / "tests"))

# A plugin that imports another is listed after it (pytest rewrites the
# asserts of a plugin module only when it imports it first).
pytest_plugins = ("aos_fixtures", "control_support", "publish_support", "queue_support",
                  "webhook_support", "fleet_support")


def __getattr__(name):
    """`from conftest import X` still works while test files written before
    the plugins are converted (a DeprecationWarning names where X lives);
    new code imports from aos_fixtures."""
    import warnings

    import aos_fixtures
    if name.startswith("__") or not hasattr(aos_fixtures, name):
        raise AttributeError(name)
    warnings.warn(f"import {name} from aos_fixtures, not from conftest",
                  DeprecationWarning, stacklevel=2)
    return getattr(aos_fixtures, name)

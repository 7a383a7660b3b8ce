"""Loads the integration tests' fixtures as pytest plugins; the fixtures and
helpers themselves are in aos_fixtures.py (and the *_support.py modules
below).  Tests request fixtures by name and import helpers from those
modules, never from this file.

Run from the repository root (ctest does) with AOS_BUILD_DIR set to the build
directory, or by hand: `.venv/bin/python -m pytest tests/integration`.
"""

import os
import sys
from pathlib import Path

# tests/ on the path: the peers package (OpenBao, pypiserver, verdaccio).
sys.path.insert(0, str(Path(os.environ.get("AOS_SOURCE_DIR")
                            or Path(__file__).resolve().parents[2]) / "tests"))

pytest_plugins = ("aos_fixtures", "control_support", "publish_support", "queue_support",
                  "webhook_support")

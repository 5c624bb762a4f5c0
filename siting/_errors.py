"""User-facing exceptions: every error a user can cause is one of these.

The CLI catches :class:`SitingError`, prints its message on one line and exits with code 2.
"""

from __future__ import annotations


class SitingError(ValueError):
    """Base class of errors caused by user input (files, scenarios, arguments)."""


class ScenarioError(SitingError):
    """A scenario file is malformed: YAML syntax, unknown key, wrong type or value, missing file."""


class InputError(SitingError):
    """An input data file (sites CSV/GeoJSON, OSM file, benchmark file) is unreadable or wrong."""


class ModelInputError(SitingError):
    """Arrays handed to the model layer have wrong shapes, signs or sizes."""

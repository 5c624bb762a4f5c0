"""siting: optimal siting of EV fast chargers and hydrogen refuelling stations."""

from siting._errors import InputError, ModelInputError, ScenarioError, SitingError

__version__ = "0.1.0"

__all__ = ["InputError", "ModelInputError", "ScenarioError", "SitingError", "__version__"]

"""Vocabulary and sourced fleet totals of the embedded Olympic corridor.

Shared by the scenario schema (:mod:`siting.scenario`, defaults and validation of the
``corridor:`` section) and :mod:`siting.corridor` (which re-exports them), so that the schema
imports no pipeline stage.
"""

from __future__ import annotations

#: Node kinds of ``data/corridor/nodes.csv``.
NODE_KINDS = frozenset(
    {"town", "interchange", "service_area", "venue", "hub", "village", "junction_city"}
)

# Olympic FCEV fleet (../shared/facts/beijing_fleet_and_infrastructure.csv, Flanders-China citing
# Global Times 2022-02-22): 816 hydrogen vehicles in all zones, 312 of them in Beijing + Yanqing.
OLYMPIC_FCEV_TOTAL = 816
OLYMPIC_FCEV_BEIJING_YANQING = 312

# Beijing hydrogen plan target (Argus Media 2021, facts file): 3,000 FCEVs by end-2023.
LOGISTICS_FCEV_TOTAL = 3000

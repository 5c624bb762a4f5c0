"""Command line: ``siting run``, ``validate``, ``compare``, ``data build``.

A thin layer: it reads a scenario, calls :mod:`siting.plan` and :mod:`siting.report`, and shows
progress (rich, on stderr). Every :class:`~siting.SitingError` ends the command with one line
``error: <message>`` on stderr and exit code 2, without a traceback and without an output folder.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from siting import _cli_common
from siting._cli_common import Reporter, err, exit_interrupted, setup_logging
from siting._errors import SitingError
from siting._flags import OneLineErrorsGroup, os_error_line
from siting.compare import compare_command

app = typer.Typer(
    cls=OneLineErrorsGroup,
    name="siting",
    help="Optimal siting of EV fast chargers and hydrogen stations (Beijing).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Embedded data (build it from ../shared).", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()

EXIT_USER_ERROR = 2


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USER_ERROR)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn SitingError (and a file the system refuses) into one line on stderr, exit code 2."""
    try:
        yield
    except SitingError as exc:
        msg = " ".join(str(exc).split("\n"))
        raise _fail(msg) from None
    except OSError as exc:
        raise _fail(os_error_line(exc)) from None


def _check_inputs(scn: Any) -> Any:
    """Check every input file the scenario names (cheap) so that none fails after heavy work."""
    from siting.inputs import check_scenario

    return check_scenario(scn)


def _queue_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """Result-table rows for the service level reached and the limit that binds."""
    rows: list[tuple[str, str]] = []
    lv = s.get("service_level")
    if lv:
        target = {"p_wait": f"P(wait) ≤ {lv.get('alpha')}",
                  "mean_wait": f"mean wait ≤ {lv.get('max_mean_wait_min')} min",
                  "daily_energy": f"{lv.get('kwh_per_plug_day')} kWh per plug per day"}  # fmt: skip
        got = ""
        if lv.get("p_wait_max") is not None:
            got = (f"; worst site P(wait) {lv['p_wait_max']:.3f}, mean wait ≤ "
                   f"{lv.get('mean_wait_min_max') or 0:.1f} min")  # fmt: skip
        rows.append(("plug sizing", f"{target.get(lv.get('rule'), lv.get('rule'))}{got}"))
    if s.get("binding_limit"):
        rows.append(("binding limit", f"{s['binding_limit']}: {s.get('binding_limit_detail', '')}"))
    return rows


ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]


@app.command()
def run(
    scenario: ScenarioArg,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: maps/<scenario file stem>)."),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget", help="Override the scenario's budget_cny (CNY; e.g. 20M, 1.5B, 2e7)."
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline/--cdn",
            help="Inline the map's JavaScript/CSS (works with no network, on its offline base) "
            "or load them from a CDN (smaller file).",
        ),
    ] = True,
    keep_incumbent: Annotated[
        bool,
        typer.Option(
            "--keep-incumbent",
            help="On Ctrl-C during the solve, write the best plan found so far (summary status "
            "'interrupted', with its gap) instead of no output; exit code 130 either way.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Solve a scenario and write map.html, sites.geojson and summary.json.

    Progress shows on stderr (a live line on a terminal, timestamped lines otherwise). Ctrl-C
    stops the run at once: one line, exit code 130, no output folder (see --keep-incumbent).
    """
    setup_logging(verbose)
    from siting import plan as plan_mod
    from siting.preflight import check_runnable
    from siting.scenario import load_scenario

    t0 = time.perf_counter()
    with _user_errors(), _ctrl_c("no output written"):
        from siting._budgets import parse_amount
        from siting._outpath import check_output_dir
        from siting.report import check_replaceable

        budget_cny = parse_amount(budget, "--budget") if budget is not None else None
        target = out_dir if out_dir is not None else Path("maps") / scenario.stem
        check_output_dir(target, "--out" if out_dir is not None else "output folder")
        scn = load_scenario(scenario)
        _check_inputs(scn)
        check_runnable(scn)  # what `validate` checks: fail before any heavy stage
        check_replaceable(target)
        stages: dict[str, float] = {}
        with Reporter(scn.name, stages) as progress:
            plan = plan_mod.run_scenario(scn, budget_cny=budget_cny, progress=progress.stage)
            stopped = plan.summary.get("status") == "interrupted"
            if not stopped or keep_incumbent:
                progress.stage("outputs")
                from siting import report

                plan.summary["total_seconds"] = round(time.perf_counter() - t0, 3)
                written = report.write_outputs(plan, target, inline_assets=offline)
    if stopped and not keep_incumbent:
        exit_interrupted(
            f"solver stopped after {plan.summary.get('solve_seconds', 0):.1f} s (best plan so "
            f"far: gap {_pct(plan.summary.get('mip_gap'))}); no output written "
            "(--keep-incumbent writes it)"
        )
    _print_result(plan, target, written, stages)
    if stopped:
        exit_interrupted(
            f"wrote the best plan found before Ctrl-C to {target} (status interrupted, gap "
            f"{_pct(plan.summary.get('mip_gap'))})"
        )


def _pct(x: Any) -> str:
    return "unknown" if x is None else f"{x:.2%}"


@contextmanager
def _ctrl_c(what: str) -> Iterator[None]:
    """Ctrl-C outside the solver (or before its first plan): one line, exit code 130."""
    t0 = time.perf_counter()
    try:
        yield
    except KeyboardInterrupt:
        exit_interrupted(f"stopped after {time.perf_counter() - t0:.1f} s; {what}")


def _print_result(plan: Any, target: Path, written: Any, stages: dict[str, float]) -> None:
    s = plan.summary
    table = Table(title=f"{s['scenario']}", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    gap = s.get("mip_gap")
    labels = {"fast_charger": "fast charger", "hydrogen": "hydrogen"}
    gap_target = s.get("mip_gap_target")
    status = f"{s['status']}" + (f" (gap {gap:.2%}" if gap is not None else "")
    if gap is not None:
        status += f", target {gap_target:.2%})" if gap_target is not None else ")"
    if s["status"] == "time_limit":
        status += ", stopped by the time limit"
    elif s["status"] == "interrupted":
        status += ", stopped by Ctrl-C: the best plan found so far"
    rows = [
        ("status", status),
        ("sites", ", ".join(f"{v} {labels.get(k, k)}" for k, v in s["sites_by_kind"].items())
         or "none"),
        ("plugs", ", ".join(f"{v:,} at {labels.get(k, k)} sites"
                            for k, v in s.get("plugs_by_kind", {}).items()) or "-"),
    ]  # fmt: skip
    if s.get("hydrogen_capacity_kg_per_day") is not None:
        rows.append(("hydrogen capacity", f"{s['hydrogen_capacity_kg_per_day']:,.0f} kg/day"))
    rows.append(("spent / budget", f"{s['spent_cny']:,.0f} / {s['budget_cny']:,.0f} CNY"))
    if s.get("demand_kwh_per_day") is not None:
        rows += [
            ("demand served",
             f"{s['demand_covered_share']:.1%} of {s['demand_kwh_per_day']:,.0f} kWh/day"),
            ("within reach",
             f"{s.get('demand_reachable_share', 0):.1%} (≤ {s['max_travel_min']} min)"),
        ]  # fmt: skip
    rows += _queue_rows(s)
    if s.get("flow_refuelled_share") is not None:
        rows.append(("flow refuelled", f"{s['flow_refuelled_share']:.1%} of "
                     f"{s.get('trips_flow_per_day', 0):,.0f} trips/day (round trips)"))  # fmt: skip
    h2_share = s.get("hydrogen_node_demand_served_share")
    if h2_share is not None:
        kg = s.get("hydrogen_node_demand_kg_per_day", 0)
        rows.append(("depot demand served", f"{h2_share:.1%} of {kg:,.0f} kg/day"))
    by_kind = s.get("n_candidates_by_kind")
    cand = ", ".join(f"{v} {labels.get(k, k)}" for k, v in by_kind.items()) if by_kind else ""
    rows += [
        ("candidates / cells", f"{cand or s['n_candidates']} / {s['n_demand_cells']}")
        if s.get("n_demand_cells")
        else ("candidates", f"{cand or s['n_candidates']}"),
        ("time", f"{s['total_seconds']:.1f} s (solver {s['solve_seconds']:.1f} s)"),
    ]
    shown = dict(stages)
    rows.append(("stages", ", ".join(f"{k} {v:.1f} s" for k, v in shown.items())))
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    files = written if isinstance(written, list | tuple) else None
    out.print(
        f"outputs in {target}" + (f": {', '.join(Path(f).name for f in files)}" if files else "")
    )


def _plans_what(scn: Any) -> str:
    """The demand kinds a scenario plans, in words, with only the settings they use."""
    from siting.demand_kinds import active_kinds

    kinds = active_kinds(scn)
    parts = []
    if "area" in kinds:
        parts.append(f"charging demand of segments {', '.join(scn.demand.segments)} within "
                     f"{scn.coverage.max_travel_min:g} min")  # fmt: skip
    sec = scn.corridor
    if sec is not None:
        parts.append(f"trip flows of {sec.vehicle.upper()} vehicles (range {sec.range_km:g} km) "
                     f"refuelled at {sec.station_kind.replace('_', ' ')} stations")  # fmt: skip
        if sec.demand_points:
            parts.append(f"depot demand at {len(sec.demand_points)} points within "
                         f"{sec.max_travel_min:g} min")  # fmt: skip
    return "; ".join(parts)


#: ``validate`` shows a stage's progress lines once it has run this long (s), when stderr is not
#: a terminal: a quick check prints its result alone.
QUIET_S = 2.0


@app.command()
def validate(
    scenario: ScenarioArg,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Check the scenario and the files it names only; skip preparing the run "
            "(road network, demand, candidates, travel times).",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Check a scenario, every file it names and everything `run` needs; then prepare the run.

    A scenario that validates can start ``siting run``: the embedded data is present and unchanged
    (sha256), the road-network source is usable (a file exists and reads; an osmnx source says it
    needs internet), and everything that depends on the inputs alone (the road network, demand
    grid, candidate sites, travel times, corridor trips) is built once here, with progress on
    stderr as `run` shows it. Scenarios whose network comes from osmnx are not downloaded (as
    --quick).
    """
    setup_logging(verbose)
    from siting.preflight import check_runnable
    from siting.scenario import load_scenario

    prepared = None
    with _user_errors():
        scn = load_scenario(scenario)
        checked = _check_inputs(scn)
        notes = check_runnable(scn)
        if not quick and scn.network.source != "osmnx":
            from siting import plan as plan_mod

            with _ctrl_c("nothing written"), Reporter(scn.name, quiet_s=QUIET_S) as progress:
                prepared = plan_mod.prepare(scn, progress=progress.stage)
    n_sites = checked.n_sites
    text = (
        f"{scenario}: ok — {scn.name!r}; network {scn.network.source}; {_plans_what(scn)}; "
        f"budget {scn.budget_cny:,.0f} CNY"
        + (f"; {n_sites} sites in files" if scn.candidates.site_files else "")
    )
    if prepared is not None:
        text += "; prepared " + _prepared_text(prepared)
    out.print(text, markup=False, highlight=False, soft_wrap=True)
    for note in notes:
        out.print(f"  {note}", markup=False, highlight=False, soft_wrap=True)


def _prepared_text(prepared: Any) -> str:
    """What ``validate`` prepared: candidates, demand cells, corridor trips and stations."""
    parts = []
    if prepared.candidates is not None:
        parts.append(f"{len(prepared.candidates)} candidates")
    if prepared.demand is not None:
        parts.append(f"{len(prepared.demand)} demand cells")
    tf = getattr(prepared, "trip_flows", None)
    if tf is not None:
        parts.append(f"{len(tf.trip_table)} corridor trips, {len(tf.candidates)} corridor sites")
    return ", ".join(parts) or "nothing to prepare"


@data_app.command("build")
def data_build(
    shared: Annotated[Path, typer.Option("--shared", help="The shared material folder.")] = Path(
        "../shared"
    ),
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: the checkout's data/ folder)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Rebuild the embedded data folder from the shared material."""
    setup_logging(verbose)
    from siting import data

    with _user_errors():
        target = out_dir if out_dir is not None else data.checkout_data_dir()
        if target is None:
            from siting._errors import InputError

            raise InputError(
                "data build: siting is installed, not a source checkout: give --out FOLDER "
                "(and point SITING_DATA_DIR at it to use it)"
            )
        with err.status(f"building embedded data from {shared} …"):
            data.build(shared, target)
    out.print(f"embedded data written to {target}")


app.command("compare")(compare_command)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point (``siting``, ``python -m siting``): a whole process, which may end at once."""
    _cli_common.FAST_EXIT_ON_INTERRUPT = True
    app(prog_name="siting")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

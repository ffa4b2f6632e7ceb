"""The marketing commands: recommend, plan, export, suppress, campaign record/report/plan.

Thin like the rest of the CLI: parse, call one :class:`~clustomer.workspace.Workspace`
method, print with :mod:`clustomer.cli_render_marketing`. :func:`register` adds them to
the main Typer app in ``cli.py``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from clustomer.cli_common import (
    DEFAULT_WS,
    JsonOpt,
    PlaybookOpt,
    RunOpt,
    WorkspaceOpt,
    call,
    out,
)

campaign_app = typer.Typer(
    help="Record a campaign, measure it against its control group, size the next one.",
    no_args_is_help=True,
)


def _open(workspace: Path) -> Any:
    from clustomer.workspace import Workspace

    return Workspace(workspace, create=False)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, default=str))


def recommend(
    out_file: Annotated[Path, typer.Option("--out", help="The CSV file to write.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Products per customer.")] = 10,
    new_items_only: Annotated[
        bool,
        typer.Option("--new-items-only", help="Only products the customer has never bought."),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help="Another product id to never recommend (adds to the default list)."
        ),
    ] = None,
    run: RunOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write each customer's top products, with a reason per product, to a CSV file."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.write_recommendations(
                out_file, top=top, new_items_only=new_items_only, exclude=exclude, run_id=run
            )

    data = call(work)
    if json_:
        _echo_json(data)
        return
    from clustomer.cli_render_marketing import print_recommend

    print_recommend(data)


def plan(
    workspace: WorkspaceOpt = DEFAULT_WS,
    run: RunOpt = None,
    playbook: PlaybookOpt = None,
    contacts: Annotated[
        int, typer.Option("--contacts", min=0, help="Length of the contact-this-week list.")
    ] = 20,
    show_keys: Annotated[
        bool,
        typer.Option("--show-keys", help="Show customer keys in full (masked by default)."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Print the strategy per segment, by expected value, and who to contact this week."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.plan(run_id=run, playbook=playbook, contact_limit=contacts)

    data = call(work).to_dict()
    if not show_keys:  # keys that are e-mail addresses (Shopify) stay masked
        from clustomer.errors import mask_emails

        for contact in data["contact_this_week"]:
            contact["customer_key"] = mask_emails(str(contact["customer_key"]))
    if json_:
        _echo_json(data)
        return
    from clustomer.cli_render_marketing import print_plan

    print_plan(data, show_keys=show_keys)


def export(
    segment: Annotated[str, typer.Option("--segment", help="Segment name (or id).")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    fmt: Annotated[
        str,
        typer.Option("--format", help="mailchimp, klaviyo, customer-match or csv."),
    ] = "csv",
    holdout: Annotated[
        str, typer.Option("--holdout", help="Control group kept out of the file, e.g. 10%.")
    ] = "0",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the control draw.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="The file to write (default: by segment).")
    ] = None,
    include_unconsented: Annotated[
        bool,
        typer.Option(
            "--include-unconsented",
            help="Also export customers who declined marketing (never the suppressed).",
        ),
    ] = False,
    run: RunOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a segment as an audience file for Mailchimp, Klaviyo or the ad platforms."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.export(
                segment,
                fmt=fmt,
                out=out_file,
                holdout=holdout,
                seed=seed,
                run_id=run,
                include_unconsented=include_unconsented,
            )

    data = call(work).to_dict()
    if json_:
        _echo_json(data)
        return
    from clustomer.cli_render_marketing import print_export

    print_export(data)


def suppress(
    values: Annotated[
        list[str], typer.Argument(help="E-mail addresses or customer keys to never export.")
    ],
    workspace: WorkspaceOpt = DEFAULT_WS,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with it).")] = None,
    hashed: Annotated[
        bool,
        typer.Option("--hashed", help="The values are SHA-256 digests of e-mail addresses."),
    ] = False,
) -> None:
    """Add people to the suppression list: they never appear in an export again."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.suppress(values, reason=reason, hashed=hashed)

    added = call(work)
    out.print(f"{added} added to the suppression list ({len(values)} given).")


@campaign_app.command("record")
def campaign_record(
    name: Annotated[str, typer.Option("--name", help="A name for the campaign.")],
    sent: Annotated[datetime, typer.Option("--sent", help="The day it was sent (YYYY-MM-DD).")],
    segment: Annotated[
        list[str] | None,
        typer.Option("--segment", help="The exported segment(s). Repeatable."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    window: Annotated[
        int, typer.Option("--window", min=1, max=365, help="Days after sending that count.")
    ] = 30,
    audience: Annotated[
        list[int] | None,
        typer.Option("--audience", help="Audience id(s) from `export` (default: the latest)."),
    ] = None,
) -> None:
    """Record an export as a campaign, to measure it once later orders are imported."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.record_campaign(
                name, segment or [], sent.date(), window_days=window, audience_ids=audience
            )

    campaign_id = call(work)
    out.print(f"campaign {name!r} recorded (id {campaign_id}).")


@campaign_app.command("outcomes")
def campaign_outcomes(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    file: Annotated[Path, typer.Argument(help="CSV with customer and converted columns.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Import a campaign's outcomes (who converted) instead of measuring from orders."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.import_campaign_outcomes(name, file)

    rows = call(work)
    out.print(f"{rows:,} outcomes stored for {name!r}.")


@campaign_app.command("report")
def campaign_report(
    name: Annotated[str, typer.Argument(help="The campaign.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    json_: JsonOpt = False,
) -> None:
    """Conversion and revenue of treatment against control, with lift, CIs and p-values."""

    def work() -> Any:
        with _open(workspace) as ws:
            return ws.campaign_report(name)

    data = call(work).to_dict()
    if json_:
        _echo_json(data)
        return
    from clustomer.cli_render_marketing import print_campaign_report

    print_campaign_report(data)


@campaign_app.command("plan")
def campaign_plan(
    baseline: Annotated[str, typer.Option("--baseline", help="Conversion now, e.g. 3%.")],
    lift: Annotated[str, typer.Option("--lift", help="Lift to detect, e.g. 2pp or 20%.")],
    list_size: Annotated[
        int | None, typer.Option("--list-size", help="Customers you can reach.")
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Use this segment's size as the list.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    holdout: Annotated[
        str, typer.Option("--holdout", help="The control group's share, as in export.")
    ] = "50%",
    power: Annotated[float, typer.Option("--power", min=0.5, max=0.99)] = 0.8,
    alpha: Annotated[float, typer.Option("--alpha", min=0.001, max=0.2)] = 0.05,
    json_: JsonOpt = False,
) -> None:
    """Customers needed per arm to detect a lift, and whether your list is big enough."""

    def work() -> Any:
        from clustomer.campaign import parse_lift, parse_rate
        from clustomer.campaign import plan as plan_test
        from clustomer.export import parse_holdout

        size = list_size
        if segment is not None:
            with _open(workspace) as ws:
                size = ws.segment_size(segment)
        return plan_test(
            parse_rate(baseline),
            parse_lift(lift),
            list_size=size,
            power=power,
            alpha=alpha,
            control_share=parse_holdout(holdout),
            list_name=f"Segment {segment}" if segment else None,
        )

    data = call(work).to_dict()
    if json_:
        _echo_json(data)
        return
    from clustomer.cli_render_marketing import print_campaign_plan

    print_campaign_plan(data)


def register(app: typer.Typer) -> None:
    """Add the marketing commands to the main app."""
    for fn in (recommend, plan, export, suppress):
        app.command()(fn)
    app.add_typer(campaign_app, name="campaign")

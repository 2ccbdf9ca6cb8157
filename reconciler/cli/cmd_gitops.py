"""reconciler.cli.cmd_gitops: `drift` (what changed out of band) and `import` (adopt live).

Both read the live API with the same paged lists as `plan` (workflow.read_live). `drift`
reads the state without locking it, as `plan` does; `import` writes files and state under
the state lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    AppContext,
    lock_timeout_option,
    pass_app,
)
from reconciler.errors import ConfigError, StateError
from reconciler.live import MESSAGING_KIND
from reconciler.settings import ENV_IMBRACE_API_KEY

if TYPE_CHECKING:
    from reconciler.importer import ImportPlan
    from reconciler.live import LiveCampaign
    from reconciler.loader import LoadResult
    from reconciler.settings import Settings
    from reconciler.state import State, StateStore

__all__: list[str] = []

FORMATS = ("text", "json", "markdown")


# --------------------------------------------------------------------------- drift


@click.command("drift")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--refresh",
    is_flag=True,
    help="After reporting, record each managed campaign's live status in the state, so a "
    "status change (a campaign was sent) is reported once. Fields are never accepted.",
)
@lock_timeout_option
@pass_app
def drift_command(app: AppContext, directory: Path | None, fmt: str, refresh: bool) -> int:
    """Show what changed outside campaignctl since the last apply.

    Live fields that differ from the last apply, managed campaigns deleted remotely,
    campaigns whose status changed, and live campaigns no state record manages.
    Exit 0 no drift, 2 drift found, 1 error (the exit code reports drift even with
    --refresh).
    """
    from reconciler.drift import compute_drift, render_drift
    from reconciler.providers import open_providers
    from reconciler.state import StateStore
    from reconciler.workflow import needs_email, needs_touchpoint, read_live

    settings = app.settings()
    if settings.state_path is None:
        raise StateError(
            "drift compares live campaigns with the state file; it cannot run with --no-state",
            where="--no-state",
        )
    store = StateStore(settings.state_path)
    if not store.exists():
        raise StateError(
            f"no state file at {settings.state_path}",
            where="--state",
            hint="run `campaignctl apply` or `campaignctl import` first, or pass --state PATH",
        )
    state = store.read()
    loaded = _load_desired(directory or settings.config_dir, explicit=directory is not None)
    need_touchpoint = needs_touchpoint(loaded, state) or settings.imbrace_api_key is not None
    providers = open_providers(
        settings,
        need_email=needs_email(settings, loaded, state),
        need_touchpoint=need_touchpoint,
    )
    try:
        live = read_live(providers)
    finally:
        providers.close()
    drift = compute_drift(state, live, loaded.campaigns if loaded else ())
    click.echo(render_drift(drift, fmt).rstrip("\n"))
    if refresh:
        _refresh_statuses(store, live, settings.lock_timeout)
    if not need_touchpoint:
        click.echo(
            f"note: {ENV_IMBRACE_API_KEY} not set: MessagingCampaigns were not checked",
            err=True,
        )
    return EXIT_CHANGES if drift.has_drift else EXIT_OK


def _refresh_statuses(store: StateStore, live: list[LiveCampaign], lock_timeout: float) -> None:
    """Record live statuses under the lock, against the state as it is now (not as read)."""
    from reconciler.drift import refreshed_statuses

    with store.lock("drift --refresh", timeout=lock_timeout):
        updates = refreshed_statuses(store.read(), live)
        for record in updates:
            store.record(record)
        store.commit()
    if updates:
        click.echo(
            f"Recorded the live status of {len(updates)} campaign(s) in the state.", err=True
        )


def _load_desired(directory: Path, *, explicit: bool) -> LoadResult | None:
    """Load the config for `lifecycle.ignore_changes`; a missing default directory is fine."""
    from reconciler.loader import load_directory

    if not explicit and not directory.exists():
        click.echo(
            f"warning: no config directory at {directory}: fields the YAML lists in "
            "lifecycle.ignore_changes are not known and may show as drift",
            err=True,
        )
        return None
    return load_directory(directory, allow_empty=True)


# --------------------------------------------------------------------------- import


@click.command("import")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write YAML into (default: --config-dir).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="GLOB",
    help="Only campaigns whose name matches (fnmatch, case-sensitive); repeatable.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="S",
    help="Only campaigns in this status: 0|waiting, 1|sending, 2|completed, -1|failed, "
    "draft, active; repeatable.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also import campaigns the YAML already declares, overwriting their files.",
)
@lock_timeout_option
@pass_app
def import_command(
    app: AppContext,
    out_dir: Path | None,
    names: tuple[str, ...],
    statuses: tuple[str, ...],
    force: bool,
) -> int:
    """Write YAML for live campaigns and record them in state, so `plan` is then empty.

    An --out DIR outside the config directory gets the files only, never state records:
    a record whose YAML is not in the config directory would plan as a delete.

    One file per campaign, named after it. Campaigns the state already manages are
    skipped. Write-only fields the API never returns (subject, attachments, touchpoint
    messages) are left out with a comment, or written as a PLACEHOLDER where the schema
    requires them; see the comment in each file.
    """
    from reconciler.importer import parse_statuses, plan_import, records_in_state, write_import
    from reconciler.providers import open_providers
    from reconciler.state import StateStore
    from reconciler.workflow import read_live

    settings = app.settings()
    if settings.state_path is None:
        raise StateError("import records campaigns in the state file; drop --no-state")
    wanted = parse_statuses(statuses)
    target = out_dir or settings.config_dir
    declared, sole = _declared(_scan_root(target, settings.config_dir), target)
    store = StateStore(settings.state_path)
    with_touchpoint = settings.imbrace_api_key is not None
    with store.lock("import", timeout=settings.lock_timeout):
        state = store.read()
        if not with_touchpoint and _state_has_messaging(state):
            settings.touchpoint_credentials()  # raises, naming the variable
        # Either API alone is enough to import from; with neither, the email one is asked for.
        with_email = settings.api_user is not None or settings.api_key is not None
        providers = open_providers(
            settings,
            need_email=with_email or not with_touchpoint,
            need_touchpoint=with_touchpoint,
        )
        try:
            live = read_live(providers)
        finally:
            providers.close()
        plan = plan_import(
            live,
            state,
            names=names,
            statuses=wanted,
            declared=declared,
            sole_in_file=sole,
            existing_files=_existing_files(target),
            force=force,
        )
        recorded = records_in_state(target, settings.config_dir)
        if plan.imported:
            write_import(plan, target, store, record=recorded)
    _report(plan, target, settings)
    if plan.imported and not recorded:
        click.echo(
            f"note: {target} is outside the config directory {settings.config_dir}: the "
            "campaigns were not recorded in the state (a record whose YAML is not in the "
            f"config directory would plan as a delete). Move the files into "
            f"{settings.config_dir} (replace any PLACEHOLDER first); the next apply adopts "
            "them by name.",
            err=True,
        )
    if not with_touchpoint:
        click.echo(
            f"note: {ENV_IMBRACE_API_KEY} not set: MessagingCampaigns were not imported",
            err=True,
        )
    return EXIT_ERROR if plan.has_errors else EXIT_OK


def _state_has_messaging(state: State) -> bool:
    return any(r.kind == MESSAGING_KIND for r in state.campaigns.values())


def _scan_root(target: Path, config_dir: Path) -> Path:
    """The config dir when the output lies inside it (a campaign declared anywhere in it
    would become a duplicate name), else the output directory itself."""
    # os.path.realpath, not Path.resolve: a symlink loop must not raise RuntimeError here
    # (the loader then names it); two spellings of one directory must compare equal.
    real_target = Path(os.path.realpath(target))
    try:
        real_target.relative_to(os.path.realpath(config_dir))
    except ValueError:
        return target
    return config_dir


def _declared(directory: Path, target: Path) -> tuple[dict[tuple[str, str], str], frozenset[str]]:
    """Campaigns the directory's YAML declares (key -> file relative to `target`), and the
    files holding exactly one campaign. An invalid directory is an error: importing into
    it could only add to the confusion.
    """
    from reconciler.loader import load_directory

    if not directory.exists():
        return {}, frozenset()
    try:
        loaded = load_directory(directory, allow_empty=True)
    except ConfigError as exc:
        exc.hint = f"fix {directory} first, or import into another directory with --out"
        raise
    per_file: dict[str, int] = {}
    declared: dict[tuple[str, str], str] = {}
    for campaign in loaded.campaigns:
        rel = os.path.relpath(campaign.source.file, target)
        declared[campaign.key] = rel
        per_file[rel] = per_file.get(rel, 0) + 1
    return declared, frozenset(f for f, n in per_file.items() if n == 1)


def _existing_files(directory: Path) -> Iterator[str]:
    if directory.is_dir():
        yield from (entry.name for entry in os.scandir(directory))


def _report(plan: ImportPlan, target: Path, settings: Settings) -> None:
    from reconciler.importer import ALREADY_MANAGED, records_in_state

    for item in plan.imported:
        label = f"{item.live.kind}/{item.live.name} [{item.live.remote_id}]"
        click.echo(f"+ {label} -> {target / item.filename}")
        for path in item.placeholders:
            click.echo(
                f"warning: {target / item.filename}: {path} is a PLACEHOLDER "
                "(write-only, not returned by the API); replace it with the real text",
                err=True,
            )
    managed = sum(1 for s in plan.skipped if s.reason == ALREADY_MANAGED)
    for skipped in plan.skipped:
        label = f"{skipped.kind}/{skipped.name} [{skipped.remote_id}]"
        if skipped.error:
            click.echo(f"error: {label} not imported: {skipped.reason}", err=True)
        elif skipped.reason != ALREADY_MANAGED:
            click.echo(f"= {label}: {skipped.reason}")
    if (target / "_defaults.yaml").exists() and plan.imported:
        click.echo(
            f"warning: {target / '_defaults.yaml'} is merged under the imported campaigns; "
            "check that `campaignctl plan` shows no changes",
            err=True,
        )
    failed = sum(1 for s in plan.skipped if s.error)
    click.echo(
        f"Import complete: {len(plan.imported)} imported, {managed} already managed, "
        f"{len(plan.skipped) - failed - managed} skipped, {failed} failed."
        + (
            f" State: {settings.state_path}"
            if plan.imported and records_in_state(target, settings.config_dir)
            else ""
        )
    )

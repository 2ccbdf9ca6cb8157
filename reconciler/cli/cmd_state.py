"""reconciler.cli.cmd_state: `campaignctl state ...`: list, show, rm, mv, unlock, pull, push,
workspaces, history.

Inspect and edit the state (any backend). Edits run under the state lock and commit atomically;
none of them touches a live campaign.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import click

from reconciler.cli import AppContext, lock_timeout_option, pass_app
from reconciler.errors import StateError
from reconciler.live import EMAIL_KIND, MESSAGING_KIND
from reconciler.state import ManagedRecord, State, StateStore
from reconciler.state.limits import read_capped
from reconciler.state.location import open_state
from reconciler.state.model import parse_state

KINDS = (EMAIL_KIND, MESSAGING_KIND)


@click.group()
def state() -> None:
    """Inspect and edit the state file (edits take the state lock)."""


@state.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@pass_app
def list_cmd(app: AppContext, fmt: str) -> None:
    """A header row, then one line per managed campaign: kind, name, remote id, status in words."""
    store = store_for(app)
    current = store.read()
    if fmt == "json":
        click.echo(render_list_json(current))
    elif current.campaigns:
        click.echo(render_list_text(current))
    else:
        click.echo(f"no managed campaigns in {store.where}", err=True)


@state.command("show")
@click.argument("name")
@pass_app
def show_cmd(app: AppContext, name: str) -> None:
    """Print the record of campaign NAME (or KIND/NAME) as JSON."""
    store = store_for(app)
    record = resolve(store.read(), name, where=str(store.where))
    click.echo(json.dumps(record.to_dict(), sort_keys=True, indent=2, ensure_ascii=False))


@state.command("rm")
@click.argument("name")
@lock_timeout_option
@pass_app
def rm_cmd(app: AppContext, name: str) -> None:
    """Forget a campaign; the live campaign stays as it is.

    NAME is the campaign name, or KIND/NAME when two kinds share it.
    """
    store = store_for(app)
    with store.lock(f"campaignctl state rm {name}", timeout=app.lock_timeout):
        record = resolve(store.read(), name, where=str(store.where))
        store.forget(record.kind, record.name)
        store.commit()
    click.echo(
        f"Removed {record.key} (remote id {record.remote_id}) from {store.where}; "
        "the live campaign was not touched."
    )


@state.command("mv")
@click.argument("old")
@click.argument("new")
@lock_timeout_option
@pass_app
def mv_cmd(app: AppContext, old: str, new: str) -> None:
    """Rename a record: a renamed campaign then plans as an update.

    OLD is a name or KIND/NAME; NEW is the new name (or KIND/NAME of the same kind). Refused
    if NEW is already in state.
    """
    store = store_for(app)
    with store.lock(f"campaignctl state mv {old} {new}", timeout=app.lock_timeout):
        current = store.read()
        record = resolve(current, old, where=str(store.where))
        old_key = record.key
        new_name = target_name(new, record)
        if current.get(record.kind, new_name) is not None:
            raise StateError(
                f"{State.key(record.kind, new_name)} is already in state",
                where=str(store.where),
                hint="remove it first with `campaignctl state rm` if it is obsolete",
            )
        moved = store.move(record.kind, record.name, new_name)
        store.commit()
    click.echo(f"Moved {old_key} to {moved.key} (remote id {moved.remote_id}).")


@state.command("unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Break it even if its holder is still running here.")
@pass_app
def unlock_cmd(app: AppContext, lock_id: str, force: bool) -> None:
    """Break the state lock LOCK_ID (the id that the lock error printed)."""
    store = store_for(app)
    holder = store.unlock(lock_id, force=force)
    click.echo(
        f"Removed lock {holder.id} (pid {holder.pid} on {holder.host} since {holder.started}, "
        f"{holder.command})."
    )


@state.command("pull")
@pass_app
def pull_cmd(app: AppContext) -> None:
    """Print the state document (the file's exact form) to stdout."""
    click.echo(store_for(app).read().to_json(), nl=False)


@state.command("push")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace even another lineage or an older serial.")
@lock_timeout_option
@pass_app
def push_cmd(app: AppContext, file: Path, force: bool) -> None:
    """Replace the state with FILE (a state document, e.g. from `state pull`).

    Only when FILE has the state's lineage and a newer serial, unless --force.
    """
    raw = read_capped(file, what="state file")
    if raw is None:
        raise StateError("cannot read the state file: No such file or directory", where=str(file))
    new = parse_state(raw, str(file))
    store = store_for(app)
    with store.lock("campaignctl state push", timeout=app.lock_timeout):
        pushed = store.push(new, force=force)
    click.echo(
        f"Pushed {file} to {store.where}: lineage {pushed.lineage}, serial {pushed.serial}, "
        f"{len(pushed.campaigns)} campaign{'s' if len(pushed.campaigns) != 1 else ''}."
    )


@state.command("workspaces")
@pass_app
def workspaces_cmd(app: AppContext) -> None:
    """List the workspaces that have a state on this backend (`*` marks the current one)."""
    for name in store_for(app).workspaces():
        click.echo(f"{'*' if name == app.workspace else ' '} {name}")


@state.command("history")
@pass_app
def history_cmd(app: AppContext) -> None:
    """List the stored versions of the state, newest first (versioned S3, PostgreSQL)."""
    for entry in store_for(app).history():
        serial = "-" if entry.serial is None else str(entry.serial)
        click.echo(f"{entry.written}  serial {serial}  {entry.size} bytes  version {entry.version}")


# --------------------------------------------------------------------------- helpers


def store_for(app: AppContext) -> StateStore:
    """The StateStore of the global options (--state, --workspace); state commands need one."""
    if app.no_state:
        raise StateError(
            "state commands need a state file",
            where="--no-state",
            hint="drop --no-state (and give --state PATH if it is not state/default.json)",
        )
    return StateStore(backend=open_state(app.state, app.workspace))


def resolve(current: State, ref: str, *, where: str) -> ManagedRecord:
    """The record that `ref` names: `KIND/NAME`, or a NAME that only one kind uses."""
    if ref in current.campaigns:
        return current.campaigns[ref]
    matches = [r for r in current.records() if r.name == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        keys = ", ".join(r.key for r in matches)
        raise StateError(
            f"{ref!r} names {len(matches)} campaigns in state: {keys}",
            where=where,
            hint=f"give KIND/NAME, e.g. {matches[0].key!r}",
        )
    candidates = [r.name for r in current.records()] + list(current.campaigns)
    close = difflib.get_close_matches(ref, candidates, n=1)
    raise StateError(
        f"no campaign {ref!r} in state",
        where=where,
        hint=f"did you mean {close[0]!r}?" if close else "see `campaignctl state list`",
    )


def target_name(new: str, record: ManagedRecord) -> str:
    """The new name from NEW (`NAME` or `KIND/NAME` of the record's own kind)."""
    name = new
    for kind in KINDS:
        if new.startswith(f"{kind}/"):
            if kind != record.kind:
                raise StateError(
                    f"cannot move {record.key} to another kind ({kind})",
                    where="state mv",
                )
            name = new[len(kind) + 1 :]
    if not name.strip():
        raise StateError("the new name is empty", where="state mv")
    if name == record.name:
        raise StateError(f"{record.key} already has that name", where="state mv")
    return name


#: The header row of `state list`, so a reader (or `column`/`awk`) knows each column.
LIST_HEADER = ("KIND", "NAME", "ID", "STATUS")


def status_in_words(kind: str, status: int | str | None) -> str:
    """A status as the vendor's word (EngageLab's 0 is `waiting`), the word `import --status`
    takes; a status the vendor description does not name stays as stored."""
    if status is None:
        return "-"
    from reconciler.providers.vendors import VENDORS

    vendor = VENDORS.get(kind)
    if vendor is not None:
        for word, statuses in vendor.status_aliases.items():
            if status in statuses and not word.lstrip("-").isdigit():
                return word
    return str(status)


def render_list_text(current: State) -> str:
    rows = [LIST_HEADER] + [
        (r.kind, r.name, r.remote_id, status_in_words(r.kind, r.status)) for r in current.records()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


def render_list_json(current: State) -> str:
    data: dict[str, Any] = {
        "lineage": current.lineage,
        "serial": current.serial,
        "campaigns": [
            {
                "kind": r.kind,
                "name": r.name,
                "remote_id": r.remote_id,
                "status": r.status,
                "applied_at": r.applied_at,
            }
            for r in current.records()
        ],
    }
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)

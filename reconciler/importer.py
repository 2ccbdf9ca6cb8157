"""reconciler.importer: live campaigns -> YAML documents + state records (the loader in reverse).

`plan_import` is pure: it picks the campaigns, builds each document through the model (so
what is written is exactly what the loader will read back) and the `ManagedRecord` that
makes the next `plan` a no-op. `write_import` does the I/O: YAML files first, then the
state records in one commit under the lock, so a crash can leave a file the state does not
know (the next plan adopts it by name), never a record without its file (which the next
plan would delete).

Write-only values (semantics.md "Write-only fields": `subject`, attachments, `message`) never come
back from the API. Where the model can do without them they are left out, with a comment:
absent from the YAML and from the record, they are not managed (semantics.md "Managed fields"),
so the vendor's value stays. Where the model requires one (a `message` touchpoint's text,
the `subject` of an A/B test of templates) the document gets `PLACEHOLDER` and the record
the hash of that placeholder: the YAML validates and the next plan is a no-op, nothing is
sent until someone replaces the placeholder with the real text, which then plans as an
update. See the README, "Importing existing campaigns".
"""

from __future__ import annotations

import fnmatch
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from reconciler.canonical import AB_DIMENSIONS, drop_empty, hash_write_only, is_empty
from reconciler.errors import CampaignctlError
from reconciler.live import EMAIL_KIND, MESSAGING_KIND, LiveCampaign
from reconciler.model import EmailCampaign, MessagingCampaign, campaign_adapter
from reconciler.planner import IMPORT_PLACEHOLDER
from reconciler.providers.engagelab.fields import ENGAGELAB
from reconciler.providers.imbrace.fields import IMBRACE
from reconciler.providers.vendors import status_aliases
from reconciler.state import ManagedRecord, State, StateStore, utc_now, write_atomic

__all__ = [
    "ALREADY_MANAGED",
    "PLACEHOLDER",
    "Document",
    "ImportConflict",
    "ImportPlan",
    "ImportedCampaign",
    "Skipped",
    "document_for",
    "parse_statuses",
    "plan_import",
    "records_in_state",
    "render_document",
    "slugify",
    "write_import",
]

#: The text written where the model needs a write-only value the API never returns.
PLACEHOLDER = IMPORT_PLACEHOLDER

#: The reason of a campaign skipped because the state manages it already.
ALREADY_MANAGED = "already managed in state"

#: Top-level order of an imported document, as the README's YAML reference lists them
#: (declared with the fields: `VendorField.order`).
EMAIL_ORDER: tuple[str, ...] = ENGAGELAB.import_order
MESSAGING_ORDER: tuple[str, ...] = IMBRACE.import_order

_WRITE_ONLY_COMMENT = {
    "subject": "# subject: not returned by the API (write-only); add it here to manage it",
    "attachments": (
        "# attachments: not returned by the API (write-only); add them here to manage them"
    ),
}
_PLACEHOLDER_COMMENT = {
    "subject": (
        "# subject: the API never returns it; the placeholder below is recorded as applied\n"
        "# and was never sent. Replace it with the real subject (that plans as an update)."
    ),
    "touchpoints": (
        "# message: the API never returns touchpoint messages. Each PLACEHOLDER below is\n"
        "# recorded as applied and was never sent; replace it with the real text to manage it."
    ),
}


#: `--status` words and the vendor statuses they select (email ints, messaging strings).
STATUS_ALIASES: dict[str, tuple[int | str, ...]] = status_aliases()


class ImportConflict(CampaignctlError):
    """A file that import is about to create appeared meanwhile."""

    code = "import_conflict"


@dataclass(frozen=True)
class ImportedCampaign:
    """One live campaign ready to write: its file name, YAML text and state record."""

    live: LiveCampaign
    filename: str
    text: str
    record: ManagedRecord
    placeholders: tuple[str, ...] = ()
    overwrite: bool = False


@dataclass(frozen=True)
class Skipped:
    """A live campaign left out, and why; `error` marks the ones the user must resolve."""

    kind: str
    name: str
    remote_id: str
    reason: str
    error: bool = False


@dataclass(frozen=True)
class ImportPlan:
    imported: tuple[ImportedCampaign, ...]
    skipped: tuple[Skipped, ...]

    @property
    def has_errors(self) -> bool:
        return any(s.error for s in self.skipped)


# --------------------------------------------------------------------------- selection


def parse_statuses(words: Iterable[str]) -> frozenset[int | str]:
    """Map `--status` words (0, waiting, sending, completed, failed, draft, active...)."""
    out: set[int | str] = set()
    for word in words:
        key = word.strip().lower()
        if key not in STATUS_ALIASES:
            known = ", ".join(STATUS_ALIASES)
            raise CampaignctlError(f"unknown status {word!r}", where="--status", hint=known)
        out.update(STATUS_ALIASES[key])
    return frozenset(out)


def _selected(
    campaign: LiveCampaign, patterns: Sequence[str], statuses: frozenset[int | str]
) -> bool:
    if patterns and not any(fnmatch.fnmatchcase(campaign.name, p) for p in patterns):
        return False
    return not statuses or campaign.status in statuses


def slugify(name: str) -> str:
    """Return a file-name stem for a campaign name: `Q3 Re-engagement` -> `q3-re-engagement`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60].rstrip("-") or "campaign"


def _unique_filenames(stems: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    used = {t.lower() for t in taken}
    out = []
    for stem in stems:
        candidate, counter = f"{stem}.yaml", 2
        while candidate.lower() in used:
            candidate, counter = f"{stem}-{counter}.yaml", counter + 1
        used.add(candidate.lower())
        out.append(candidate)
    return out


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Document:
    """An imported campaign as data: the ordered mapping, its model, and what is a placeholder."""

    data: dict[str, Any]
    model: EmailCampaign | MessagingCampaign
    placeholders: tuple[str, ...]


def document_for(live: LiveCampaign) -> Document:
    """Build the YAML document of a live campaign; ValueError names what makes it invalid."""
    if live.kind == MESSAGING_KIND:
        raw, placeholders = _messaging_raw(live)
        order = MESSAGING_ORDER
    else:
        raw, placeholders = _email_raw(live)
        order = EMAIL_ORDER
    try:
        model = campaign_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(_validation_summary(exc)) from None
    dumped = drop_empty(model.model_dump(mode="json", exclude_none=True, exclude={"lifecycle"}))
    dumped = {k: _drop_nested_empty(v) for k, v in dumped.items()}
    if live.kind == MESSAGING_KIND:
        dumped["touchpoints"] = [_touchpoint_doc(tp) for tp in dumped.get("touchpoints", [])]
    data = {k: dumped[k] for k in order if k in dumped and not is_empty(dumped[k])}
    return Document(data, model, placeholders)


def _email_raw(live: LiveCampaign) -> tuple[dict[str, Any], tuple[str, ...]]:
    allowed = set(EmailCampaign.model_fields) - {"lifecycle"} - ENGAGELAB.write_only
    raw = {k: v for k, v in live.fields.items() if k in allowed and not is_empty(v)}
    raw["kind"], raw["name"] = EMAIL_KIND, live.name
    placeholders: tuple[str, ...] = ()
    ab_test = raw.get("ab_test")
    if raw.get("campaign_type") == "ab" and isinstance(ab_test, Mapping):
        # The API may echo the single field that the tested list overrides; the model
        # rejects it as "ignored by the API", and left out it is simply not managed.
        for dimension, single in AB_DIMENSIONS.items():
            if ab_test.get(dimension):
                raw.pop(single, None)
                if dimension == "template_invoke_names":
                    raw["subject"] = PLACEHOLDER
                    placeholders = ("subject",)
    return raw, placeholders


def _messaging_raw(live: LiveCampaign) -> tuple[dict[str, Any], tuple[str, ...]]:
    touchpoints = []
    placeholders = []
    for index, tp in enumerate(live.touchpoints):
        entry: dict[str, Any] = {"name": tp.name, "type": tp.type}
        if tp.type == "message":
            entry["message"] = {"text": PLACEHOLDER}
            placeholders.append(f"touchpoints[{index}].message")
        touchpoints.append(entry)
    raw = {
        "kind": MESSAGING_KIND,
        "name": live.name,
        "channel_type": live.fields.get("channel_type"),
        "touchpoints": touchpoints,
    }
    return raw, tuple(placeholders)


def _touchpoint_doc(tp: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: tp[k] for k in ("name", "type") if k in tp}
    message = tp.get("message")
    if isinstance(message, Mapping) and set(message) == {"text"}:
        out["message"] = message["text"]  # the string shorthand reads better
    elif message:
        out["message"] = message
    return out


def _drop_nested_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nested_empty(v) for k, v in value.items() if not is_empty(v)}
    if isinstance(value, list):
        return [_drop_nested_empty(v) for v in value]
    return value


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
        parts.append(f"{loc}: {error['msg']}" if loc else str(error["msg"]))
    return "; ".join(parts)


#: Characters a YAML reader treats as line breaks, or that only an escape can carry: in any
#: other style than double-quoted they would be folded into a space or refused on reading.
_NEEDS_ESCAPES = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff]")


def _represent_str(representer: Any, value: str) -> Any:
    style = '"' if _NEEDS_ESCAPES.search(value) else None
    return representer.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.allow_unicode = True
    yaml.representer.sort_base_mapping_type_on_output = False
    yaml.representer.add_representer(str, _represent_str)
    yaml.representer.ignore_aliases = lambda _data: True  # live values are shared: no aliases
    return yaml


_YAML = _yaml()


def _dump(data: Mapping[str, Any]) -> str:
    stream = io.StringIO()
    _YAML.dump(dict(data), stream)
    return stream.getvalue()


def render_document(live: LiveCampaign, document: Document) -> str:
    """Return the YAML text: a header, the fields in order, comments for write-only fields."""
    chunks = _top_level_chunks(_dump(document.data))
    lines = [f"# Imported by `campaignctl import` from {live.kind} {live.remote_id}."]
    order = MESSAGING_ORDER if live.kind == MESSAGING_KIND else EMAIL_ORDER
    for key in order:
        if key in chunks:
            if key in document.placeholders or (
                key == "touchpoints"
                and any(p.startswith("touchpoints[") for p in document.placeholders)
            ):
                lines.append(_PLACEHOLDER_COMMENT[key])
            lines.append(chunks[key].rstrip("\n"))
        elif live.kind == EMAIL_KIND and key in _WRITE_ONLY_COMMENT:
            lines.append(_WRITE_ONLY_COMMENT[key])
    return "\n".join(lines) + "\n"


def _top_level_chunks(text: str) -> dict[str, str]:
    """Split a block-style dump into its top-level keys (continuations are indented)."""
    chunks: dict[str, str] = {}
    current = ""
    for line in text.splitlines(keepends=True):
        if line and not line[0].isspace():
            current = _key_of(line)
            chunks[current] = ""
        chunks[current] += line
    return chunks


def _key_of(line: str) -> str:
    if line.startswith(("'", '"')):
        return line[1 : line.index(line[0], 1)]
    return line.split(":", 1)[0]


# --------------------------------------------------------------------------- plan


def plan_import(
    live: Sequence[LiveCampaign],
    state: State,
    *,
    names: Sequence[str] = (),
    statuses: frozenset[int | str] = frozenset(),
    declared: Mapping[tuple[str, str], str] = MappingProxyType({}),
    sole_in_file: frozenset[str] = frozenset(),
    existing_files: Iterable[str] = (),
    force: bool = False,
    now: str | None = None,
) -> ImportPlan:
    """Pick the live campaigns to import and build their documents and records. Pure.

    Skipped: campaigns the state already manages (a second import is a no-op); a name the
    state gives to another remote id; two live campaigns of one kind and name (identity
    must be unique: rename one first, never a guess); documents the model rejects; and
    campaigns the YAML already declares (`declared`: key -> file relative to the output
    directory), which `plan` adopts by name, unless `force`: then a file that holds only
    that campaign (`sole_in_file`) is overwritten. New files never take an existing name
    (`existing_files`, relative and lower-cased comparison): nothing else is clobbered.
    """
    applied_at = now or utc_now()
    chosen = [c for c in live if _selected(c, names, statuses)]
    chosen.sort(key=lambda c: (c.kind, c.name, c.remote_id))
    counts: dict[tuple[str, str], list[str]] = {}
    for campaign in chosen:
        counts.setdefault(campaign.key, []).append(campaign.remote_id)
    skipped: list[Skipped] = []
    ready: list[tuple[LiveCampaign, Document, str | None]] = []
    for campaign in chosen:
        reason = _skip_reason(campaign, state, counts[campaign.key])
        target = declared.get(campaign.key)
        if reason is None and target is not None:
            reason = _declared_reason(campaign, target, force, target in sole_in_file)
        if reason is not None:
            skipped.append(reason)
            continue
        try:
            ready.append((campaign, document_for(campaign), target))
        except ValueError as exc:
            skipped.append(_skip(campaign, f"cannot be written as valid YAML: {exc}", error=True))
    fresh = iter(
        _unique_filenames([slugify(c.name) for c, _, t in ready if t is None], existing_files)
    )
    imported = tuple(
        ImportedCampaign(
            live=campaign,
            filename=target if target is not None else next(fresh),
            text=render_document(campaign, document),
            record=_record(campaign, document, applied_at),
            placeholders=document.placeholders,
            overwrite=target is not None,
        )
        for campaign, document, target in ready
    )
    return ImportPlan(imported, tuple(skipped))


def _skip(campaign: LiveCampaign, reason: str, *, error: bool) -> Skipped:
    return Skipped(campaign.kind, campaign.name, campaign.remote_id, reason, error)


def _skip_reason(campaign: LiveCampaign, state: State, same_name: list[str]) -> Skipped | None:
    if state.by_remote_id(campaign.kind, campaign.remote_id) is not None:
        return _skip(campaign, ALREADY_MANAGED, error=False)
    if len(same_name) > 1:
        ids = ", ".join(same_name)
        return _skip(
            campaign,
            f"{len(same_name)} live campaigns share this name ({ids}); rename all but one",
            error=True,
        )
    recorded = state.get(campaign.kind, campaign.name)
    if recorded is not None:
        return _skip(
            campaign,
            f"the state maps this name to {recorded.remote_id}; rename one of them",
            error=True,
        )
    return None


def _declared_reason(
    campaign: LiveCampaign, target: str, force: bool, sole: bool
) -> Skipped | None:
    if not force:
        return _skip(
            campaign,
            f"already declared in {target} (plan adopts it by name; --force overwrites the file)",
            error=False,
        )
    if not sole:
        return _skip(
            campaign,
            f"declared in {target} beside other campaigns; not overwritten even with --force",
            error=True,
        )
    return None


def _record(campaign: LiveCampaign, document: Document, applied_at: str) -> ManagedRecord:
    return ManagedRecord(
        kind=campaign.kind,
        name=campaign.name,
        remote_id=campaign.remote_id,
        last_applied=hash_write_only(document.model.canonical()),
        live_fingerprint=campaign.fingerprint,
        status=campaign.status,
        touchpoint_ids={tp.name: tp.remote_id for tp in campaign.touchpoints},
        applied_at=applied_at,
    )


# --------------------------------------------------------------------------- write


def records_in_state(out_dir: Path, config_dir: Path) -> bool:
    """True when import may record what it writes to `out_dir`: inside the config directory.

    A state record is a promise that the campaign's YAML is in the config directory: the
    next plan deletes a recorded campaign whose YAML is not there. Terraform's import never
    deletes, and neither may ours: YAML written anywhere else is only written, and the
    campaigns stay unmanaged until their files are moved in (apply then adopts them by name).
    """
    try:
        out_dir.resolve().relative_to(config_dir.resolve())
    except ValueError:
        return False
    return True


def write_import(
    plan: ImportPlan, out_dir: Path, store: StateStore, *, record: bool = True
) -> State:
    """Write every file (atomically), then record every campaign in state in one commit.

    Checks first that no new file would overwrite one that appeared since the plan, so
    either every file is written or none. The caller holds the state lock. `record=False`
    writes the files only (see `records_in_state`).
    """
    clobbered = [
        out_dir / item.filename
        for item in plan.imported
        if not item.overwrite and (out_dir / item.filename).exists()
    ]
    if clobbered:
        raise ImportConflict(
            f"{len(clobbered)} file(s) appeared during the import: {clobbered[0]}",
            where=str(out_dir),
            hint="rerun campaignctl import",
        )
    for item in plan.imported:
        target = out_dir / item.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, item.text)
    if not record:
        return store.read()
    for item in plan.imported:
        store.record(item.record)
    return store.commit()

"""Builders for test inputs: campaign YAML text and state objects, in one place.

Values passed to the YAML builders are YAML text, inserted as written (quote a send_time,
write a flow mapping as `{a: 1}`); a field given as "" or None is left out. A test states
only what it is about: `email_yaml("Promo", subject="Changed")`.
"""

from __future__ import annotations

from reconciler.state import ManagedRecord, State

#: A valid normal EmailCampaign: the fields each test then changes or drops.
EMAIL_FIELDS: dict[str, str] = {
    "campaign_type": "normal",
    "to": "{type: tag, value: [lapsed]}",
    "sender_id": "53",
    "template_invoke_name": "tpl",
    "subject": "Hello",
    "send_time": '"2027-03-01 10:00:00"',
}


def email_yaml(name: str, *, kind: bool = False, extra: str = "", **fields: str | None) -> str:
    """An EmailCampaign document: EMAIL_FIELDS with `fields` over them, then `extra` lines.

    `kind=True` writes `kind: EmailCampaign` first (the default kind needs no line).
    """
    values = {**EMAIL_FIELDS, **fields}
    lines = ["kind: EmailCampaign"] if kind else []
    lines.append(f"name: {name}")
    lines += [f"{key}: {value}" for key, value in values.items() if value]
    return "\n".join(lines) + "\n" + extra


def journey_yaml(name: str, touchpoints: list[tuple[str, str]], channel: str = "whatsapp") -> str:
    """A MessagingCampaign document with message touchpoints `(name, text)`, in order."""
    lines = [f"kind: MessagingCampaign\nname: {name}\nchannel_type: {channel}\ntouchpoints:"]
    lines += [f"  - {{name: {tp}, type: message, message: {text!r}}}" for tp, text in touchpoints]
    if not touchpoints:
        lines[0] = lines[0].replace("touchpoints:", "touchpoints: []")
    return "\n".join(lines) + "\n"


def state_of(*records: ManagedRecord) -> State:
    """A fresh State (new lineage, serial 0) holding records."""
    state = State()
    for record in records:
        state.put(record)
    return state

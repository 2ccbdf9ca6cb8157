"""The send times of an EmailCampaign that are already past in its own time zone (a warning:
a new campaign would be sent at once).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from reconciler.canonical import DEFAULT_TIME_ZONE, SEND_TIME_FORMAT
from reconciler.loader.yaml_values import Path_
from reconciler.model import EmailCampaign


class PastSendTimes:
    """One clock reading for a whole run, formatted once per time zone."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now if now is not None else datetime.now(UTC)
        self.now_text: dict[int, str] = {}

    def warnings(self, model: EmailCampaign) -> list[tuple[Path_, str]]:
        """(model path, message) for each send time of model before now."""
        zone = DEFAULT_TIME_ZONE if model.time_zone is None else model.time_zone
        now = self._now_in(zone)
        candidates: list[tuple[Path_, str]] = []
        if model.send_time:
            candidates.append((("send_time",), model.send_time))
        if model.ab_test and model.ab_test.send_times:
            candidates.extend(
                (("ab_test", "send_times", i), t) for i, t in enumerate(model.ab_test.send_times)
            )
        return [
            (path, f"{text} is in the past: a new campaign would be sent at once")
            for path, text in candidates
            # both "YYYY-MM-DD HH:MM:SS" in one zone: text order is time order
            if text < now
        ]

    def _now_in(self, hours: int) -> str:
        if hours not in self.now_text:
            local = self.now.astimezone(timezone(timedelta(hours=hours)))
            self.now_text[hours] = local.strftime(SEND_TIME_FORMAT)
        return self.now_text[hours]

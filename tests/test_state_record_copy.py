"""A recorded step is the record as it was when recorded: the caller may change its object.

StateStore.record copies what it keeps (the applier's touchpoint progress reuses its dicts
from one call to the next); the copy must share nothing mutable at any depth.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reconciler.state import ManagedRecord, StateStore


def test_a_record_changed_by_its_caller_after_record_is_kept_as_recorded(
    tmp_path: Path,
) -> None:
    touchpoints = [{"name": "first", "message": {"sha256": "a"}}]
    record = ManagedRecord(
        "MessagingCampaign",
        "Journey",
        "abc",
        {"name": "Journey", "touchpoints": touchpoints, "to": ("x", ["y"])},
        "fp",
        0,
        {"first": "tp1"},
        "2026-11-25T10:00:00Z",
    )
    store = StateStore(tmp_path / "state.json")
    with store.lock("test"):
        store.read()
        store.record(record)
        touchpoints[0]["message"]["sha256"] = "changed"  # deep inside last_applied
        touchpoints.append({"name": "second"})
        record.last_applied["to"][1].append("z")  # a list inside a tuple
        record.touchpoint_ids["second"] = "tp2"
        kept = store.read().get("MessagingCampaign", "Journey")
        assert kept is not None
        assert kept.last_applied["touchpoints"] == [{"name": "first", "message": {"sha256": "a"}}]
        assert kept.last_applied["to"] == ("x", ["y"])
        assert kept.touchpoint_ids == {"first": "tp1"}
    committed = StateStore(tmp_path / "state.json").read().get("MessagingCampaign", "Journey")
    assert committed is not None
    assert committed.last_applied["touchpoints"] == [{"name": "first", "message": {"sha256": "a"}}]


def test_parallel_records_on_the_file_journal_are_each_durable_before_record_returns(
    tmp_path: Path,
) -> None:
    """Group commit: records from 16 threads at once share fsyncs, and every line whose
    record() returned is in the journal file, whole, when it returns."""
    store = StateStore(tmp_path / "state.json")
    journal = tmp_path / "state.json.journal"
    seen: list[bool] = []
    mutex = threading.Lock()

    def worker(start: int) -> None:
        for index in range(start, start + 25):
            name = f"c{index:04d}"
            store.record(
                ManagedRecord("EmailCampaign", name, str(index + 1), {"name": name}, None, 0, {})
            )
            present = f'"name":"{name}"' in journal.read_text()
            with mutex:
                seen.append(present)

    with store.lock("test"):
        store.read()
        threads = [threading.Thread(target=worker, args=(n * 25,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        lines = journal.read_text().splitlines()
        assert len(lines) == 400 and all(line.endswith("}") for line in lines)
    assert seen == [True] * 400
    assert len(StateStore(tmp_path / "state.json").read().campaigns) == 400

"""Plan N managed campaigns against the sandbox with injected latency.

Usage: python bench/plan_bench.py N [--latency-ms L]

Seeds N email campaigns on an in-process sandbox (directly in its store: seeding is not what
is measured), writes the matching YAML and a state file that manages them all, then times one
full `plan` (load YAML, read state, list live, compute, render). Prints the requests the
sandbox served, wall time and peak memory, and what a per-resource refresh (one GET per
campaign, as Terraform providers do) would have sent.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from reconciler.canonical import hash_write_only
from reconciler.cli import run
from reconciler.loader import LoadedCampaign, load_directory
from reconciler.providers import EmailProvider
from reconciler.sandbox import Sandbox
from reconciler.state import ManagedRecord, StateStore

SEED_FIELDS = {
    "to": [{"type": "tag", "value": ["bench"]}],
    "sender_id": "53",
    "template_invoke_name": "bench_template",
    "send_time": "2030-01-01 10:00:00",
    "time_zone": 8,
}


def campaign_yaml(name: str) -> str:
    return (
        f"name: {name}\n"
        "campaign_type: normal\n"
        "to: {type: tag, value: [bench]}\n"
        "sender_id: '53'\n"
        "template_invoke_name: bench_template\n"
        "send_time: '2030-01-01 10:00:00'\n"
        "time_zone: 8\n"
    )


def prepare(sandbox: Sandbox, root: Path, count: int) -> tuple[Path, Path]:
    """Write N YAML files, create them on the sandbox and a state file managing them."""
    config = root / "campaigns.d"
    config.mkdir()
    sandbox.seed_email_campaigns(count, name_prefix="bench-", **SEED_FIELDS)
    provider = EmailProvider(sandbox.url, sandbox.api_user, SecretStr(sandbox.api_key))
    live = {c.name: c for c in provider.list_campaigns()}
    provider.close()
    for name in live:
        (config / f"{name}.yaml").write_text(campaign_yaml(name))
    loaded = load_directory(config)
    state_path = root / "state.json"
    store = StateStore(state_path)
    with store.lock("bench"):
        store.read()
        record_all(store, loaded.campaigns, live)
        store.commit()
    return config, state_path


def record_all(store: StateStore, campaigns: Sequence[LoadedCampaign], live: dict) -> None:
    for campaign in campaigns:
        item = live[campaign.name]
        store.record(
            ManagedRecord(
                kind=campaign.kind,
                name=campaign.name,
                remote_id=item.remote_id,
                last_applied=hash_write_only(campaign.canonical()),
                live_fingerprint=item.fingerprint,
                status=item.status,
                touchpoint_ids={},
                applied_at="2026-01-01T00:00:00Z",
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Sandbox(port=0) as sandbox:
        config, state_path = prepare(sandbox, Path(tmp), args.count)
        sandbox.set_latency(args.latency_ms)
        before = sandbox.request_count()
        argv = [
            "--api-url",
            sandbox.url,
            "--state",
            str(state_path),
            "plan",
            str(config),
            "--format",
            "json",
            "--detailed-exitcode",
        ]
        os.environ["ENGAGELAB_API_USER"] = sandbox.api_user
        os.environ["ENGAGELAB_API_KEY"] = sandbox.api_key
        out = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = run(argv)
        wall = time.perf_counter() - start
        requests_sent = sandbox.request_count() - before
        summary = json.loads(out.getvalue())["summary"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "campaigns": args.count,
                "latency_ms": args.latency_ms,
                "exit_code": code,
                "summary": summary,
                "requests": requests_sent,
                "wall_s": round(wall, 3),
                "peak_rss_mb": round(peak_mb, 1),
                "per_resource_refresh_requests": args.count + 1,
                "per_resource_refresh_serial_s": round(args.count * args.latency_ms / 1000, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Inputs and floors for perf_bench: YAML trees, the PyYAML baseline, the network floors.

Nothing here is timed: the trees are written before any measured command runs.
"""

from __future__ import annotations

import math
from pathlib import Path

# The validate tree: a mix of normal, A/B and messaging campaigns and a `_defaults.yaml`,
# 500 files per sub-directory (as a large team's repository is laid out).
NORMAL = """\
name: Campaign {i:05d}
campaign_type: normal
to: {{type: tag, value: [segment-{i}]}}
template_invoke_name: template_{i}
subject: Subject line number {i}
send_time: "2027-0{month}-1{day} 10:00:00"
warm_up:
  - {{domain: gmail.com, rate: 1, upgrade_value: 0.95, downgrade_value: 0.75}}
"""

AB = """\
name: A/B test {i:05d}
campaign_type: ab
to: [{{type: list, value: [all]}}]
template_invoke_name: template_{i}
send_time: "2027-0{month}-1{day} 09:30:00"
ab_test:
  percent: 20
  win_condition: {{time_unit: hour, after_time: 18, compare: open_percent}}
  subjects: ["Subject A {i}", "Subject B {i}"]
"""

MESSAGING = """\
kind: MessagingCampaign
name: Journey {i:05d}
channel_type: whatsapp
touchpoints:
  - {{name: Welcome, type: message, message: "Hi {i}"}}
  - {{name: Nudge, type: message, message: {{text: "Still there?"}}}}
  - {{name: Tag, type: action}}
"""

DEFAULTS = """\
time_zone: 8
reply_to: support@example.com
sender_id: 53
google_track: {campaign_source: newsletter, campaign_medium: email}
"""

#: The line `campaignctl import` writes for a seeded campaign, and the one edit that makes
#: every campaign differ from live in exactly one field.
SEEDED_TEMPLATE_LINE = "template_invoke_name: seed_template\n"
DIFFERING_TEMPLATE_LINE = "template_invoke_name: seed_template_v2\n"

#: Run in a child by the validate baseline: the time PyYAML's C loader takes to read and
#: parse every file of the tree, start-up excluded (the loop alone is timed).
YAML_PARSE_CHILD = """\
import os, sys, time
import yaml
root = sys.argv[1]
paths = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(('.yaml', '.yml'))
)
start = time.perf_counter()
for path in paths:
    with open(path, encoding='utf-8') as handle:
        yaml.load(handle.read(), Loader=yaml.CSafeLoader)
print(len(paths), time.perf_counter() - start)
"""

#: The sandbox's own floor for `apply`: P threads of plain http.client, one keep-alive
#: connection each, POSTing N campaigns (the body campaignctl sends for create_yaml) with
#: nothing else around them. argv: url user key N P; prints the seconds the loop took.
RAW_CREATE_CHILD = """\
import base64, http.client, json, sys, threading, time, urllib.parse
url, user, key, count, workers = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:6])
parts = urllib.parse.urlsplit(url)
auth = 'Basic ' + base64.b64encode(f'{user}:{key}'.encode()).decode()
names = iter(range(count))
lock = threading.Lock()
failed = []

def work():
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    while True:
        with lock:
            index = next(names, None)
        if index is None:
            return
        body = json.dumps({
            'name': f'raw-{index:05d}', 'campaign_type': 2,
            'to': [{'type': 'tag', 'value': ['bench']}], 'sender_id': 53,
            'template_invoke_name': 'bench_template', 'subject': f'Bench subject {index}',
            'send_time': '2030-01-01 10:00:00', 'time_zone': 8,
        })
        conn.request('POST', '/v1/marketing/campaigns', body,
                      {'Content-Type': 'application/json', 'Authorization': auth})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            failed.append(answer.status)

threads = [threading.Thread(target=work) for _ in range(workers)]
start = time.perf_counter()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.perf_counter() - start
if failed:
    sys.exit(f'{len(failed)} creates failed: {failed[:3]}')
print(elapsed)
"""

#: Run in a child with a side's code: the page size and list concurrency the client uses.
PAGING_CHILD = """\
from reconciler.providers.http.paging import LIST_WORKERS, PAGE_LIMIT
print(PAGE_LIMIT, LIST_WORKERS)
"""


def write_validate_tree(root: Path, count: int) -> None:
    """Write count campaign files, 500 per sub-directory, and one `_defaults.yaml`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "_defaults.yaml").write_text(DEFAULTS)
    templates = (NORMAL, NORMAL, AB, MESSAGING)
    for i in range(count):
        folder = root / f"team-{i // 500:03d}"
        if i % 500 == 0:
            folder.mkdir()
        text = templates[i % len(templates)].format(i=i, month=1 + i % 9, day=i % 10)
        (folder / f"campaign-{i:05d}.yaml").write_text(text)


def create_yaml(index: int) -> str:
    """One email campaign apply will create (subject included: it is write-only)."""
    return (
        f"name: bench-{index:05d}\n"
        "campaign_type: normal\n"
        "to: {type: tag, value: [bench]}\n"
        "sender_id: '53'\n"
        "template_invoke_name: bench_template\n"
        f"subject: Bench subject {index}\n"
        "send_time: '2030-01-01 10:00:00'\n"
        "time_zone: 8\n"
    )


def write_apply_tree(root: Path, count: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (root / f"c{index:05d}.yaml").write_text(create_yaml(index))


def make_every_campaign_differ(config: Path) -> int:
    """Change template_invoke_name in every imported file; return how many were changed."""
    changed = 0
    for path in sorted(config.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if SEEDED_TEMPLATE_LINE in text:
            path.write_text(text.replace(SEEDED_TEMPLATE_LINE, DIFFERING_TEMPLATE_LINE, 1))
            changed += 1
    return changed


# Issue 17 states its plan floor as "1 + the remaining pages fetched 4 at a time".
ISSUE_FLOOR_WORKERS = 4


def list_round_trips(count: int, page_limit: int, workers: int) -> int:
    """Round trips of a paged list: page one (it says `total`), then the rest W at a time."""
    pages = max(1, math.ceil(count / page_limit))
    return 1 + math.ceil((pages - 1) / max(1, workers))


def plan_floor_s(count: int, latency_ms: float, page_limit: int, workers: int) -> float:
    """The network floor of a plan: its list's round trips times the latency."""
    return list_round_trips(count, page_limit, workers) * latency_ms / 1000


def apply_ideal_s(count: int, latency_ms: float, parallelism: int) -> float:
    """Perfect parallelism: ceil(N/P) creates in a row, each one round trip."""
    return math.ceil(count / parallelism) * latency_ms / 1000

"""reconciler.policy: a team's rules as CEL expressions, checked on `validate` and `plan`.

A policy file (docs/reference/commands.md "Policies") lists rules; a rule holds when its `expr`
is true. Scope `campaign` binds `campaign` (one campaign's canonical form) and `sends` (its
timed sends: `at` a UTC timestamp, `local_hour`, `weekday` (0 = Sunday) and `local` in its
own time zone, `time_zone`, `audience {type, values}`, `effect`, and `nearest_overlap`:
the closest send of another campaign whose audience may overlap, `{kind, name, at, gap}`
with `gap` a duration, or null). Scope `plan` binds `plan`: `actions` (kind, name, action, reason,
changes [{path, before, after}], sent: the live campaign is sending or sent) and `summary`.

CEL library: `common-expression-language` (Rust `cel` crate bindings): `has()`, maps,
lists, macros, timestamps and durations, clear errors, and about a microsecond per
evaluation, which 20 rules over 10,000 campaigns need. CEL has no loops or recursion, but
nested macros over long lists can still run for minutes, and a Rust call cannot be
interrupted from Python: rules run in a forked worker process, each rule with a time limit.

Four modules, every name importable from here: rules (the file read and checked), bindings
(what an expression sees), workers (timed evaluation in forked workers), check (violations,
overrides, the blocking summary).
"""

from __future__ import annotations

from reconciler.policy import bindings, check, rules, workers
from reconciler.policy.bindings import *  # noqa: F403 (each module's __all__, re-exported)
from reconciler.policy.check import *  # noqa: F403
from reconciler.policy.rules import *  # noqa: F403
from reconciler.policy.workers import *  # noqa: F403

__all__ = [*rules.__all__, *bindings.__all__, *workers.__all__, *check.__all__]

"""``policy check``'s text, from hand-built documents that satisfy its contract."""

from __future__ import annotations

import tomllib

from qfbackup.output.contract import all_contracts, validate
from qfbackup.output.document import document
from qfbackup.output.text import policy as text

SUMMARY = {
    "hosts": 1,
    "clusters": 2,
    "primaries": 1,
    "filesets": 0,
    "drill_checks": 1,
    "scheduled_jobs": 0,
    "offsite": False,
    "warnings": 2,
    "not_implemented": 1,
}
WARNINGS = [
    {"code": "no-offsite", "key": "offsite", "message": "offsite: not set, so the repository has no off-site copy."},
    {"code": "not-implemented", "key": "retention", "message": "retention: set, but no command prunes yet."},
]


def check_doc(**extra) -> dict:
    doc = document("policy check", valid=True, source="/etc/qfbackup/policy.toml", summary=SUMMARY, warnings=WARNINGS,
                   **extra)  # fmt: skip
    assert validate(doc, all_contracts()["policy check"]) == []
    return doc


def test_verdict_first_then_the_summary_and_the_warning_count():
    assert text.check(check_doc()).splitlines() == [
        "policy /etc/qfbackup/policy.toml is valid.",
        "It covers 1 host, 2 clusters (1 primary), 0 file sets, 1 drill check, 0 scheduled jobs and no off-site copy.",
        "2 warnings (on stderr), 1 of them about settings no command acts on yet.",
        "`qfbackup policy check --show` prints the effective policy.",
    ]


def test_no_warning_line_without_warnings():
    doc = check_doc()
    doc["summary"] = {**SUMMARY, "warnings": 0, "not_implemented": 0, "offsite": True}
    lines = text.check(doc).splitlines()
    assert lines[1].endswith("and an off-site copy.") and not any("warning" in ln for ln in lines)


def test_show_appends_the_effective_policy_and_the_whole_text_is_toml():
    policy = {
        "source": "/etc/qfbackup/policy.toml",
        "repository": {"path": "/srv/qf/repo", "cache_dir": None},
        "hosts": {"vms": {"name": "vms", "address": "db.example.com", "port": 22}},
        "drill": {"checks": [{"name": "c", "sql": "select 1", "expect": "== 1"}], "amcheck": True},
    }
    out = text.check(check_doc(policy=policy))
    assert out.splitlines()[0] == "# policy /etc/qfbackup/policy.toml is valid."
    assert "[hosts.vms]" in out and "# cache_dir is not set" in out and "[[drill.checks]]" in out
    assert tomllib.loads(out) == {
        "repository": {"path": "/srv/qf/repo"},
        "hosts": {"vms": {"address": "db.example.com", "port": 22}},
        "drill": {"amcheck": True, "checks": [{"name": "c", "sql": "select 1", "expect": "== 1"}]},
        "clusters": {},  # the named sections are always there, empty or not
        "filesets": {},
    }


def test_long_lists_are_split_one_item_a_line_and_odd_keys_quoted():
    policy = {"source": "p", "clusters": {"main": {"databases": [f"database_{i:02d}" for i in range(8)]}},
              "alerts": {"odd key": 1.5}}  # fmt: skip
    out = text.effective_policy(policy)
    assert '    "database_07",\n' in out and '"odd key" = 1.5' in out
    assert tomllib.loads(out)["clusters"]["main"]["databases"][7] == "database_07"

"""`intranet check` warns when the people who may read a community change (issue #5)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import add_community, small_intranet

from generator.audit import audience_changes, parse_communities
from intranet.cli import main

SAFETY = "communities/safety-leads/community.yml"
ROTA = "communities/rota/community.yml"


def git(root: Path, *args: str) -> str:
    run = subprocess.run(
        ["git", "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return run.stdout


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "--short=7", "HEAD").strip()


def intranet(root: Path) -> Path:
    """The small test intranet plus a staff-only and a members-only community."""
    root.mkdir(parents=True, exist_ok=True)
    small_intranet(root)
    add_community(root, "rota", name="Rota")
    add_community(root, "safety-leads", name="Medication Safety Leads", audience=["members"], members=["ann.lee"])
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = intranet(tmp_path / "intranet")
    git(root, "init", "-q", "-b", "main")
    commit(root, "Start")
    return root


def edit(root: Path, relpath: str, **fields: object) -> None:
    path = root / relpath
    data = yaml.safe_load(path.read_text())
    data.update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def check(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, list[str], str]:
    status = main(["check", "--root", str(root), *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if ": audience: warning: " in line]


def test_widening_staff_to_partners_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, ROTA, audience=["staff", "partners"])
    status, lines, _ = check(capsys, repo)
    assert status == 0
    assert warnings(lines) == [
        f"{ROTA}: audience: warning: audience widened since HEAD: partners can now read 'Rota' (was: staff)"
    ]
    assert lines[-1].startswith("OK: 4 communities") and lines[-1].endswith("no problems; 1 audience warning(s).")


def test_narrowing_and_swapping_audiences_warn(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "communities/handover/community.yml", audience=["staff"])
    edit(repo, "communities/procurement/community.yml", audience=["partners", "staff"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        "communities/handover/community.yml: audience: warning: audience narrowed since HEAD: "
        "partners can no longer read 'Clinical Handover' (was: staff, partners)",
        "communities/procurement/community.yml: audience: warning: audience changed since HEAD: "
        "partners can now read 'Procurement', suppliers no longer can (was: staff, suppliers)",
    ]


def test_members_only_opened_to_staff_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, SAFETY, audience=["staff"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        f"{SAFETY}: audience: warning: audience widened since HEAD: "
        "staff can now read 'Medication Safety Leads' (was: members only)"
    ]


def test_community_made_members_only_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "communities/handover/community.yml", audience=["members"], members=["bo.chen"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        "communities/handover/community.yml: audience: warning: audience narrowed since HEAD: "
        "'Clinical Handover' is now members only (ann.lee, bo.chen); staff, partners can no longer read it"
    ]


def test_adding_and_removing_members_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, SAFETY, members=["ann.lee", "bo.chen"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        f"{SAFETY}: audience: warning: audience widened since HEAD: bo.chen can now read members-only "
        "'Medication Safety Leads'"
    ]
    edit(repo, SAFETY, members=["bo.chen"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        f"{SAFETY}: audience: warning: audience changed since HEAD: bo.chen can now read members-only "
        "'Medication Safety Leads', ann.lee no longer can"
    ]


def test_unchanged_audience_with_other_edits_does_not_warn(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, ROTA, purpose="Who works when, and how to swap shifts.", tags=["rota"])
    edit(repo, "communities/handover/community.yml", audience=["partners", "staff"])  # same audiences, new order
    edit(repo, SAFETY, name="Medication Safety Leads Group")
    status, lines, _ = check(capsys, repo)
    assert status == 0 and warnings(lines) == []
    assert lines == [line for line in lines if "warning" not in line]


def test_new_community_wider_than_staff_warns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_community(repo, "suppliers-forum", name="Suppliers Forum", audience=["staff", "suppliers"])
    add_community(repo, "ward-news", name="Ward News")  # staff only: nothing to say
    add_community(repo, "board", name="Board", audience=["members"], members=["ann.lee"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        "communities/suppliers-forum/community.yml: audience: warning: new community since HEAD: "
        "suppliers can read 'Suppliers Forum' (audience: staff, suppliers)"
    ]


def test_renamed_folder_is_compared_with_its_old_self(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "mv", "communities/rota", "communities/ward-rota")
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == []
    edit(repo, "communities/ward-rota/community.yml", audience=["staff", "partners"])
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == [
        "communities/ward-rota/community.yml: audience: warning: audience widened since HEAD: "
        "partners can now read 'Rota' (was: staff) (renamed from communities/rota/)"
    ]


def test_after_a_commit_it_reports_what_the_commit_did(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, SAFETY, audience=["partners"])
    sha = commit(repo, "Open the safety leads to partners")
    before = git(repo, "status", "--porcelain")
    status, lines, _ = check(capsys, repo)
    assert status == 0
    assert warnings(lines) == [
        f"{SAFETY}: audience: warning: audience widened in commit {sha}: "
        "partners can now read 'Medication Safety Leads' (was: members only)"
    ]
    assert git(repo, "status", "--porcelain") == before  # read only
    edit(repo, ROTA, purpose="Shifts.")
    commit(repo, "Reword the rota")
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == []


def test_since_compares_the_work_tree_with_a_revision(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "tag", "published")
    edit(repo, ROTA, audience=["staff", "suppliers"])
    commit(repo, "Rota for suppliers")
    edit(repo, ROTA, purpose="Shifts.")
    commit(repo, "Reword the rota")
    _, lines, _ = check(capsys, repo)
    assert warnings(lines) == []  # the last commit changed no audience
    status, lines, _ = check(capsys, repo, "--since", "published")
    assert status == 0
    assert warnings(lines) == [
        f"{ROTA}: audience: warning: audience widened since published: suppliers can now read 'Rota' (was: staff)"
    ]
    _, lines, _ = check(capsys, repo, "--since", "HEAD~2")
    assert len(warnings(lines)) == 1
    status, lines, err = check(capsys, repo, "--since", "no-such-branch")
    assert status == 2 and lines == []
    assert "intranet check: error: --since no-such-branch: no such commit" in err


def test_strict_makes_warnings_fail(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, _ = check(capsys, repo, "--strict")
    assert status == 0
    edit(repo, ROTA, audience=["staff", "partners"])
    status, lines, err = check(capsys, repo, "--strict")
    assert status == 1
    assert len(warnings(lines)) == 1 and not any(line.startswith("OK:") for line in lines)
    assert "1 audience warning(s); --strict makes them fail the check." in err
    status, _, _ = check(capsys, repo)
    assert status == 0


def test_content_problems_and_warnings_are_both_reported(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, ROTA, audience=["staff", "partners"], posting="never")
    status, lines, err = check(capsys, repo)
    assert status == 1
    assert f"{ROTA}:7: posting: 'never' is not one of: anyone, known, members, moderators" in lines
    assert len(warnings(lines)) == 1 and "1 problem(s) found." in err


def test_intranet_in_a_sub_folder_of_the_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = intranet(tmp_path / "content")
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "Start")
    edit(root, ROTA, audience=["staff", "partners"])
    _, lines, _ = check(capsys, root)
    assert len(warnings(lines)) == 1 and warnings(lines)[0].startswith(f"{ROTA}: audience: warning: audience widened")


def test_no_git_no_commit_or_first_commit_gives_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = intranet(tmp_path / "plain")
    status, lines, err = check(capsys, plain)
    assert status == 0 and warnings(lines) == [] and err == ""
    status, _, err = check(capsys, plain, "--since", "HEAD")
    assert status == 2 and "is not inside a Git repository" in err

    fresh = intranet(tmp_path / "fresh")
    git(fresh, "init", "-q", "-b", "main")  # no commit yet
    status, lines, _ = check(capsys, fresh, "--strict")
    assert status == 0 and warnings(lines) == []

    commit(fresh, "Start")  # a first commit has no parent to compare with
    status, lines, _ = check(capsys, fresh, "--strict")
    assert status == 0 and warnings(lines) == []


def test_comparison_is_pure_and_lists_many_members_briefly() -> None:
    before = parse_communities({"leads": "name: Leads\npurpose: p\naudience: [members]\nmembers: [a]\n"})
    after = parse_communities(
        {"leads": "name: Leads\npurpose: p\naudience: [members]\nmembers: [a, b, c, d, e, f, g, h]\nmoderators: [m]\n"}
    )
    assert [str(c) for c in audience_changes(before, after, "since v1")] == [
        "communities/leads/community.yml: audience: warning: audience widened since v1: "
        "b, c, d, e, f and 3 more can now read members-only 'Leads'"
    ]
    assert audience_changes(after, after, "since v1") == []
    assert audience_changes(after, {}, "since v1") == []  # a removed community is read by no one

"""The profile's suppression list."""

from __future__ import annotations

import pytest

from desktop.merge.suppress import SuppressionList
from tests.merge.merge_samples import profile_in


def test_add_contains_ignores_case(tmp_path):
    suppression = SuppressionList(profile_in(tmp_path))
    assert suppression.add("Ana@Example.COM", "unsubscribed")
    assert suppression.contains("ana@example.com")
    assert suppression.contains(" ANA@example.com ")
    assert not suppression.contains("bob@example.com")


def test_add_twice_keeps_first_reason(tmp_path):
    suppression = SuppressionList(profile_in(tmp_path))
    suppression.add("ana@example.com", "unsubscribed")
    assert not suppression.add("ANA@example.com", "bounced")
    [entry] = suppression.entries()
    assert entry.address == "ana@example.com"
    assert entry.reason == "unsubscribed"


def test_remove(tmp_path):
    suppression = SuppressionList(profile_in(tmp_path))
    suppression.add("ana@example.com", "unsubscribed")
    assert suppression.remove("Ana@example.com")
    assert not suppression.remove("ana@example.com")
    assert suppression.entries() == []


def test_kept_in_profile(tmp_path):
    profile = profile_in(tmp_path)
    SuppressionList(profile).add("ana@example.com", "bounced: 550 5.1.1 no such user")
    reopened = SuppressionList(profile)
    assert reopened.addresses() == {"ana@example.com"}
    assert (profile.data_dir / "suppression.sqlite3").is_file()


def test_rejects_non_address(tmp_path):
    with pytest.raises(ValueError, match="is not an address"):
        SuppressionList(profile_in(tmp_path)).add("nobody", "unsubscribed")

"""The command registry, key names, key files with their problems, sequence matching and `sluice keys`."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.cli import main
from desktop.commands import COMMANDS, COMMANDS_BY_NAME, MODES, fuzzy_filter, fuzzy_score, markdown
from desktop.keymap import (
    KeyNameError,
    SequenceMatcher,
    build_keymap,
    canonical_key,
    default_keys_path,
    load_default_keymap,
    load_keymap,
    parse_sequence,
    read_key_file,
    read_key_text,
)

REPOSITORY = Path(__file__).resolve().parents[2]
USER_FILE = Path("keys.toml")


def _keymap_with(text: str):
    defaults, default_problems = read_key_file(default_keys_path())
    assert default_problems == []
    overrides, problems = read_key_text(text, USER_FILE)
    keymap, clashes = build_keymap(defaults, overrides)
    return keymap, problems + clashes


# --- registry and defaults ------------------------------------------------------------


def test_command_names_are_unique_and_described() -> None:
    assert len(COMMANDS_BY_NAME) == len(COMMANDS)
    for command in COMMANDS:
        assert command.text, command.name
        assert command.description.endswith("."), command.name


def test_default_keys_have_no_problems() -> None:
    _keymap, problems = load_default_keymap()

    assert problems == []


def test_every_command_but_folder_ones_has_default_key() -> None:
    keymap, _problems = load_default_keymap()
    unbound = [command.name for command in COMMANDS
               if not any(keymap.keys_of(mode, command.name) for mode in MODES)]

    assert unbound == ["new-folder", "rename-folder", "delete-folder"]


GMAIL_DEFAULTS = [
    ("j", "next-message"), ("k", "previous-message"), ("o", "open-message"), ("Enter", "open-message"),
    ("u", "back"), ("x", "toggle-select"), ("* a", "select-all"), ("* n", "select-none"), ("* r", "select-read"),
    ("* u", "select-unread"), ("e", "archive"), ("#", "delete"), ("!", "report-spam"), ("s", "toggle-star"),
    ("Shift+i", "mark-read"), ("Shift+u", "mark-unread"), ("l", "label"), ("v", "move"), ("z", "undo"),
    ("/", "focus-search"), ("c", "compose"), ("r", "reply"), ("a", "reply-all"), ("f", "forward"),
    (".", "more-actions"), ("g i", "go-inbox"), ("g s", "go-starred"), ("Ctrl+k", "command-palette"),
    ("?", "cheat-sheet"), ("b", "snooze"), ("Ctrl+z", "undo"),
]


@pytest.mark.parametrize(("keys", "command"), GMAIL_DEFAULTS)
def test_gmail_default_in_list_mode(keys: str, command: str) -> None:
    keymap, _problems = load_default_keymap()

    assert keymap.command_for("list", parse_sequence(keys)) == command


def test_default_keys_ship_in_package_data() -> None:
    assert default_keys_path().read_text(encoding="utf-8") == (REPOSITORY / "resources" / "keys.toml").read_text(
        encoding="utf-8")


def test_docs_keys_md_is_up_to_date() -> None:
    keymap, _problems = load_default_keymap()
    expected = markdown(keymap.as_table())

    actual = (REPOSITORY / "docs" / "keys.md").read_text(encoding="utf-8")

    assert actual == expected, "docs/keys.md is out of date: run python -m desktop.commands --markdown > docs/keys.md"


def test_docs_example_key_file_is_valid() -> None:
    text = (REPOSITORY / "docs" / "keys.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]

    keymap, problems = _keymap_with(example)

    assert problems == []
    assert keymap.command_for("list", ("y",)) == "archive"
    assert keymap.command_for("list", ("g", "g")) == "go-inbox"


def test_markdown_lists_every_command() -> None:
    text = markdown({"list": {"archive": ["e"]}})

    for command in COMMANDS:
        assert f"`{command.name}`" in text
    assert "| Archive | `archive` | `e` |" in text


# --- key names ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("j", "j"),
    ("J", "Shift+j"),
    ("Shift+I", "Shift+i"),
    ("shift+i", "Shift+i"),
    ("ctrl+K", "Ctrl+k"),
    ("Shift+Ctrl+p", "Ctrl+Shift+p"),
    ("Control+Alt+Delete", "Ctrl+Alt+Delete"),
    ("#", "#"),
    ("Shift+#", "#"),
    ("+", "+"),
    ("Ctrl++", "Ctrl++"),
    ("Return", "Enter"),
    ("esc", "Escape"),
    ("Backtab", "Shift+Tab"),
    ("pgdown", "PageDown"),
    ("F12", "F12"),
    ("é", "é"),
])
def test_canonical_key(text: str, expected: str) -> None:
    assert canonical_key(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty key"),
    ("gi", "as in 'g i'"),
    ("*a", "as in '* a'"),
    ("Ctrl+Foo", "unknown key name 'Foo'"),
    ("Hyper+x", "unknown modifier 'Hyper'"),
    ("g g g g g", "at most 4"),
])
def test_unreadable_key_is_explained(text: str, message: str) -> None:
    with pytest.raises(KeyNameError) as caught:
        parse_sequence(text)

    assert message in str(caught.value)


def test_sequence_parses_each_key() -> None:
    assert parse_sequence("* A") == ("*", "Shift+a")
    assert parse_sequence("  g   i ") == ("g", "i")


# --- key files and their problems ----------------------------------------------------------------


def test_unknown_command_names_closest_first() -> None:
    _keymap, problems = _keymap_with('[list]\narchve = "y"\n')

    assert len(problems) == 1
    text = str(problems[0])
    assert text.startswith("keys.toml:2: unknown command 'archve'. Did you mean 'archive'?")
    names = text.split("Commands, closest first: ")[1].rstrip(".").split(", ")
    assert names[0] == "archive"
    assert sorted(names) == sorted(COMMANDS_BY_NAME)


def test_unknown_command_offers_command_with_that_word() -> None:
    _keymap, problems = _keymap_with('[list]\nstar = "y"\n')

    text = str(problems[0])
    assert "Did you mean 'toggle-star'?" in text
    assert text.split("Commands, closest first: ")[1].startswith("toggle-star, go-starred, ")


def test_unknown_mode_is_reported_with_line() -> None:
    _keymap, problems = _keymap_with('# comment\n\n[lists]\narchive = "y"\n')

    assert [str(problem) for problem in problems] == [
        "keys.toml:3: unknown mode 'lists'. Did you mean 'list'? Modes: list, reader, composer."
    ]


def test_key_outside_table_is_reported() -> None:
    _keymap, problems = _keymap_with('archive = "y"\n')

    assert problems[0].line == 1
    assert "outside a mode table" in problems[0].message


def test_unparsable_key_keeps_defaults() -> None:
    keymap, problems = _keymap_with('[list]\n\narchive = ["y", "Ctrl+Nope"]\n')

    assert problems[0].line == 3
    assert "archive: unknown key name 'Nope'" in problems[0].message
    assert keymap.keys_of("list", "archive") == ["e"]
    assert keymap.command_for("list", ("y",)) is None


def test_wrong_value_type_is_reported() -> None:
    _keymap, problems = _keymap_with('[list]\narchive = 5\n')

    assert problems[0].line == 2
    assert "must be a string or a list of strings" in problems[0].message


def test_invalid_toml_names_its_line() -> None:
    _keymap, problems = _keymap_with('[list]\narchive = "y"\ndelete = \n')

    assert problems[0].line == 3
    assert problems[0].message.startswith("invalid TOML")


def test_key_bound_twice_in_file_is_reported() -> None:
    keymap, problems = _keymap_with('[list]\narchive = "y"\ndelete = "y"\n')

    assert len(problems) == 1
    assert problems[0].line == 3
    assert "'y' is already bound to archive (line 2) in mode list" in problems[0].message
    assert keymap.command_for("list", ("y",)) == "archive"
    assert keymap.keys_of("list", "delete") == ["#"]


def test_prefix_of_default_sequence_is_reported() -> None:
    keymap, problems = _keymap_with('[list]\ndelete = "g"\n')

    assert len(problems) == 1
    assert problems[0].line == 2
    assert "'g' is the start of 'g " in problems[0].message
    assert keymap.keys_of("list", "delete") == ["#"]


def test_sequence_behind_single_key_is_reported() -> None:
    _keymap, problems = _keymap_with('[list]\ndelete = "e x"\n')

    assert "'e x' starts with 'e', bound to archive (a default)" in problems[0].message


def test_prefix_within_one_binding_is_reported() -> None:
    _keymap, problems = _keymap_with('[list]\ndelete = ["d", "d d"]\n')

    assert "'d' is the start of 'd d'" in problems[0].message


def test_override_takes_default_key() -> None:
    keymap, problems = _keymap_with('[list]\ndelete = ["e", "Delete"]\n')

    assert problems == []
    assert keymap.command_for("list", ("e",)) == "delete"
    assert keymap.command_for("list", ("Delete",)) == "delete"
    assert keymap.keys_of("list", "archive") == []
    assert keymap.command_for("list", ("#",)) is None


def test_empty_list_unbinds_command() -> None:
    keymap, problems = _keymap_with('[list]\nreport-spam = []\n')

    assert problems == []
    assert keymap.keys_of("list", "report-spam") == []
    assert keymap.keys_of("reader", "report-spam") == ["!"]


def test_unbinding_later_in_file_frees_prefix() -> None:
    text = '[list]\nsync = "g"\n' + "".join(
        f"{name} = []\n" for name in ("go-inbox", "go-starred", "go-sent", "go-drafts", "go-archive", "go-folder"))

    keymap, problems = _keymap_with(text)

    assert problems == []
    assert keymap.command_for("list", ("g",)) == "sync"
    assert keymap.continuations("list", ("g",)) == []


def test_missing_user_file_gives_defaults(tmp_path: Path) -> None:
    keymap, problems = load_keymap(tmp_path / "keys.toml")

    assert problems == []
    assert keymap.keys_of("list", "archive") == ["e"]


# --- matching key presses ---------------------------------------------------------------------


def test_matcher_runs_single_key() -> None:
    matcher = SequenceMatcher(load_default_keymap()[0])

    assert matcher.press("list", "e").command == "archive"
    assert matcher.pending == ()


def test_matcher_waits_after_first_key() -> None:
    matcher = SequenceMatcher(load_default_keymap()[0])

    first = matcher.press("list", "*")

    assert first.command is None
    assert first.pending == ("*",)
    assert [command for _sequence, command in first.continuations] == [
        "select-all", "select-none", "select-read", "select-unread"]
    assert matcher.press("list", "u").command == "select-unread"
    assert matcher.pending == ()


def test_matcher_reports_unmatched_sequence() -> None:
    matcher = SequenceMatcher(load_default_keymap()[0])
    matcher.press("list", "g")

    result = matcher.press("list", "q")

    assert result.command is None
    assert result.unmatched == ("g", "q")
    assert matcher.pending == ()
    assert matcher.press("list", "j").command == "next-message"


def test_matcher_modes_differ() -> None:
    matcher = SequenceMatcher(load_default_keymap()[0])

    assert matcher.press("reader", "Escape").command == "back"
    assert matcher.press("list", "Escape").command == "leave-search"
    assert not matcher.wants("composer", "e")
    assert matcher.wants("list", "e")


# --- fuzzy matching ------------------------------------------------------------------------------


def test_fuzzy_score_requires_characters_in_order() -> None:
    assert fuzzy_score("arc", "Archive") is not None
    assert fuzzy_score("cra", "Archive") is None
    assert fuzzy_score("", "anything") == 0


def test_fuzzy_filter_prefers_word_starts() -> None:
    texts = ["Mark as unread", "Go to Inbox", "Sync", "Go to Sent"]

    assert [texts[position] for position in fuzzy_filter("gs", texts)] == ["Go to Sent"]
    assert [texts[position] for position in fuzzy_filter("in", texts)][0] == "Go to Inbox"


# --- sluice keys ------------------------------------------------------------------------------------


def test_cli_keys_check_reports_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keys.toml").write_text('[list]\narchve = "y"\n\n[reader]\ndelete = "g"\n', encoding="utf-8")

    assert main(["--home", str(home), "keys", "check"]) == 1

    err = capsys.readouterr().err.splitlines()
    path = home.resolve() / "keys.toml"
    assert err[0].startswith(f"{path}:2: unknown command 'archve'. Did you mean 'archive'?")
    assert err[1].startswith(f"{path}:5: delete: 'g' is the start of 'g ")
    assert err[2] == "2 problems found; the default keys stay in force for those lines."


def test_cli_keys_check_accepts_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "mine.toml"
    good.write_text('[list]\narchive = ["e", "y"]\n', encoding="utf-8")

    assert main(["--home", str(tmp_path / "home"), "keys", "check", str(good)]) == 0

    assert capsys.readouterr().out.strip() == f"OK: 1 binding in {good}."


def test_cli_keys_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path / "home"), "keys", "check", str(tmp_path / "nope.toml")]) == 1

    assert "nope.toml not found" in capsys.readouterr().err


def test_cli_keys_list_shows_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "keys.toml").write_text('[list]\narchive = "y"\n', encoding="utf-8")

    assert main(["--home", str(home), "keys", "list"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert "  archive              y" in out
    assert out[0] == "[list]"

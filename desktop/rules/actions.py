"""Build action objects from the ``actions`` array of a rule.

Each action is a table with one key, e.g. ``{ move = "Receipts" }``. ``auto_reply``
takes a table of options: ``{ auto_reply = { body = "...", days = 7 } }``.
"""

from __future__ import annotations

import datetime as dt

from desktop.rules.model import (
    Action,
    Archive,
    AutoReply,
    Copy,
    Delete,
    Flag,
    Label,
    Lane,
    Mark,
    Move,
    Priority,
)
from desktop.rules.problems import unknown_key_message
from desktop.rules.values import Report, check_keyword, check_lane, type_name

ACTIONS = (
    "move", "copy", "flag", "mark", "label", "unlabel", "delete", "archive",
    "priority", "lane", "auto_reply", "stop",
)
AUTO_REPLY_KEYS = ("body", "days", "subject", "start", "end")
MAX_PRIORITY = 1000
MAX_REPLY_DAYS = 365


class StopAction:
    """Marker returned for ``{ stop = true }``: the loader sets the rule's ``stop``."""


STOP = StopAction()


def parse_action(value: object, report: Report) -> Action | StopAction | None:
    """Build one action from its table; report problems and return None if invalid."""
    if not isinstance(value, dict) or len(value) != 1:
        report(
            f"An action is a table with exactly one key, e.g. {{ move = \"Receipts\" }}, "
            f"not {value!r}. Write each action as its own table in the array."
        )
        return None
    [(name, argument)] = value.items()
    if name not in ACTIONS:
        report(unknown_key_message(name, ACTIONS, "action"))
        return None
    return _BUILDERS[name](name, argument, report)


def _folder(name: str, argument: object, report: Report) -> Action | None:
    if not isinstance(argument, str) or not argument.strip():
        report(f"'{name}' needs a folder name, not {argument!r}, e.g. {{ {name} = \"Receipts\" }}.")
        return None
    return Move(argument) if name == "move" else Copy(argument)


def _bool(name: str, argument: object, report: Report) -> bool | None:
    if isinstance(argument, bool):
        return argument
    report(f"'{name}' must be true or false, not {argument!r}, e.g. {{ {name} = true }}.")
    return None


def _flag(name: str, argument: object, report: Report) -> Action | None:
    value = _bool(name, argument, report)
    return None if value is None else Flag(value)


def _mark(name: str, argument: object, report: Report) -> Action | None:
    if argument not in ("read", "unread"):
        report(f"'mark' must be \"read\" or \"unread\", not {argument!r}.")
        return None
    return Mark(read=argument == "read")


def _label(name: str, argument: object, report: Report) -> Action | None:
    keyword = check_keyword(name, argument, report)
    return None if keyword is None else Label(keyword, add=name == "label")


def _only_true(name: str, argument: object, report: Report) -> Action | StopAction | None:
    value = _bool(name, argument, report)
    if value is None:
        return None
    if not value:
        report(f"'{name} = false' does nothing. Remove the action, or write {{ {name} = true }}.")
        return None
    return {"delete": Delete(), "archive": Archive(), "stop": STOP}[name]


def _priority(name: str, argument: object, report: Report) -> Action | None:
    if isinstance(argument, bool) or not isinstance(argument, int) or abs(argument) > MAX_PRIORITY:
        report(
            f"'priority' must be a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY} added to "
            f"the message's score, not {argument!r}, e.g. {{ priority = 10 }}."
        )
        return None
    return Priority(argument)


def _lane(name: str, argument: object, report: Report) -> Action | None:
    lane = check_lane(argument, report)
    return None if lane is None else Lane(lane)


def _auto_reply(name: str, argument: object, report: Report) -> Action | None:
    if not isinstance(argument, dict):
        report(f"'auto_reply' takes a table, not {type_name(argument)}, e.g. {{ auto_reply = {{ body = \"I am away.\", days = 7 }} }}.")
        return None
    unknown = [key for key in argument if key not in AUTO_REPLY_KEYS]
    for key in unknown:
        report(unknown_key_message(key, AUTO_REPLY_KEYS, "auto_reply key"))
    checks = [
        _reply_body(argument.get("body"), report),
        _reply_days(argument.get("days", 7), report),
        _reply_text("subject", argument.get("subject", ""), report),
        _reply_window(argument.get("start"), argument.get("end"), report),
    ]
    if unknown or not all(checks):
        return None
    return AutoReply(
        body=argument["body"], days=argument.get("days", 7), subject=argument.get("subject", ""),
        start=argument.get("start"), end=argument.get("end"),
    )


def _reply_body(body: object, report: Report) -> bool:
    if isinstance(body, str) and body.strip():
        return _reply_template(body, report)
    if body is None:
        report("'auto_reply' needs a body, the text of the reply, e.g. { auto_reply = { body = \"I am away until Monday.\" } }.")
    else:
        report(f"'body' of 'auto_reply' must be non-empty text, not {body!r}.")
    return False


def _reply_template(body: str, report: Report) -> bool:
    """Check that the body renders as a Jinja2 template with the documented variables."""
    from desktop.rules.autoreply import check_template

    problem = check_template(body)
    if problem is None:
        return True
    report(
        f"The 'body' of 'auto_reply' is not a valid template: {problem} Write {{{{ name }}}} only for a variable, "
        "and wrap literal braces in {% raw %}...{% endraw %}."
    )
    return False


def _reply_days(days: object, report: Report) -> bool:
    if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_REPLY_DAYS:
        return True
    report(f"'days' of 'auto_reply' must be a whole number of days from 1 to {MAX_REPLY_DAYS}, not {days!r}.")
    return False


def _reply_text(key: str, value: object, report: Report) -> bool:
    if isinstance(value, str):
        return True
    report(f"'{key}' of 'auto_reply' must be a string, not {type_name(value)}.")
    return False


def _reply_window(start: object, end: object, report: Report) -> bool:
    for key, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            report(f"'{key}' of 'auto_reply' must be a TOML date without quotes, e.g. {key} = 2026-12-24, not {value!r}.")
            return False
    if start is not None and end is not None and end < start:
        report(f"'end' ({end}) of 'auto_reply' is before 'start' ({start}). Swap them.")
        return False
    return True


_BUILDERS = {
    "move": _folder,
    "copy": _folder,
    "flag": _flag,
    "mark": _mark,
    "label": _label,
    "unlabel": _label,
    "delete": _only_true,
    "archive": _only_true,
    "stop": _only_true,
    "priority": _priority,
    "lane": _lane,
    "auto_reply": _auto_reply,
}

"""The ``sluice`` command: the window by default, subcommands for the rest."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from desktop import __version__
from desktop.config import (
    DEFAULT_PORTS,
    DEFAULT_SMTP_PORTS,
    SECURITY_CHOICES,
    Account,
    ConfigError,
    load_config,
    save_config,
    validate_account_name,
)
from desktop.credentials import CredentialError, delete_password, store_password
from desktop.logs import setup_logging
from desktop.paths import HOME_ENV, Profile, default_profile, profile_at
from desktop.store import StoreError
from desktop.text import pluralize, sentence

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


_HOME_HELP = "keep config, store and index under DIR (default: $SLUICE_HOME or the platform's folders)"
_DEMO_HELP = "use the bundled demo mailbox (no server needed), in a profile of its own ('demo' inside --home, if given)"
_VERBOSE_HELP = "log debug details, including the IMAP protocol with passwords hidden"
SEARCH_OPTIONS_WITH_VALUE = ("--account", "--limit", "--home")
SEARCH_FLAGS = ("--json", "--demo", "-v", "--verbose", "-h", "--help")


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command; after it they only override."""
    common = argparse.ArgumentParser(add_help=False)
    suppress = {} if defaults else {"default": argparse.SUPPRESS}
    common.add_argument("--home", metavar="DIR", help=_HOME_HELP, **suppress)
    common.add_argument("--demo", action="store_true", help=_DEMO_HELP, **suppress)
    common.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP, **suppress)
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sluice",
        description="Sluice, a mail client for heavy inboxes. Without a command it opens the window.",
        parents=[_common_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"sluice {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common_options(defaults=False)

    _add_account_commands(commands, common)
    _add_folder_commands(commands, common)
    _add_rules_commands(commands, common)
    _add_keys_commands(commands, common)
    for module in _command_modules():
        module.add_commands(commands, common)

    sync = commands.add_parser("sync", help="fetch new mail and changes from the server", parents=[common])
    sync.add_argument("--account", metavar="NAME", help="sync only this account")
    sync.add_argument("--quiet", action="store_true", help="print only errors")
    sync.add_argument("--watch", action="store_true",
                      help="after the sync, wait for new mail (IMAP IDLE, or NOOP polling) until Ctrl+C or SIGTERM")
    sync.add_argument("--interval", type=float, default=15.0, metavar="MINUTES",
                      help="with --watch: minutes between syncs of every folder (default 15)")
    sync.add_argument("--poll-seconds", type=float, default=60.0, metavar="SECONDS",
                      help="with --watch: seconds between NOOP polls on servers without IDLE (default 60)")
    sync.add_argument("--no-idle", action="store_true", help="with --watch: poll with NOOP even where the server offers IDLE")
    sync.add_argument("--max-seconds", type=float, metavar="SECONDS", help="with --watch: stop after this many seconds")

    search = commands.add_parser(
        "search", help="search the local index (see docs/search.md)", parents=[common],
        epilog="Terms may start with '-' to exclude them, as in: sluice search budget -from:news",
    )
    search.add_argument("query", nargs="*", help="the query, for example: from:ana is:unread budget (empty: every message)")
    search.add_argument("--account", metavar="NAME", help="search only this account")
    search.add_argument("--limit", type=int, default=50, metavar="N", help="show at most N matches (default 50, 0 for all)")
    search.add_argument("--json", action="store_true", help="print one JSON array")

    folders = commands.add_parser("folders", help="list folders with total and unread counts", parents=[common])
    folders.add_argument("--account", metavar="NAME", help="list only this account's folders")

    index = commands.add_parser("index", help="manage the full-text index", parents=[common])
    index_commands = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    index_commands.add_parser("rebuild", help="rebuild the index from the local store", parents=[common])
    return parser


def _add_account_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    account = commands.add_parser("account", help="add, list or remove accounts, or change a password", parents=[common])
    actions = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add an IMAP account (the password goes to the system keyring)", parents=[common])
    add.add_argument("name", help="a short name for the account, such as 'work'")
    add.add_argument("--imap-host", required=True, metavar="HOST", help="the IMAP server's host name")
    add.add_argument("--imap-port", type=int, metavar="PORT", help="default: 993 with tls, 143 otherwise")
    add.add_argument("--security", choices=SECURITY_CHOICES, default="tls", help="tls (implicit TLS, default), starttls or none")
    add.add_argument("--user", required=True, metavar="USER", help="the login name")
    add.add_argument("--smtp-host", metavar="HOST", help="the outgoing (SMTP) server's host name")
    add.add_argument("--smtp-port", type=int, metavar="PORT", help="default: 465 with tls, 587 with starttls, 25 with none")
    add.add_argument(
        "--smtp-security", choices=SECURITY_CHOICES, default="starttls",
        help="tls, starttls (default) or none; with none a password is sent only to a server on this machine",
    )
    add.add_argument(
        "--smtp-user", metavar="USER",
        help="the SMTP login name (default: --user); a different name gets its own password in the keyring",
    )
    add.add_argument("--address", metavar="ADDRESS", help="your address on this account (default: the user name when it is one)")
    add.add_argument(
        "--alias", metavar="ADDRESS", action="append", default=[],
        help="another address of yours that arrives in this account; repeat for several (auto-replies reply to mail sent to these too)",
    )
    _add_password_source(add, oauth2=True)
    actions.add_parser("list", help="list accounts", parents=[common])
    remove = actions.add_parser("remove", help="remove an account, its local mail and its keyring entry", parents=[common])
    remove.add_argument("name", help="the account to remove; mail on the server is not touched")
    password = actions.add_parser("password", help="store a new password for an account (local mail is kept)", parents=[common])
    password.add_argument("name", help="the account whose password changed")
    _add_password_source(password)


def _add_folder_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    folder = commands.add_parser("folder", help="create, rename or delete a folder, on the server and locally", parents=[common])
    actions = folder.add_subparsers(dest="folder_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a folder ('Projects/2026' makes a sub-folder)", parents=[common])
    create.add_argument("name", metavar="NAME", help="the new folder's full name")
    rename = actions.add_parser("rename", help="rename a folder together with its sub-folders", parents=[common])
    rename.add_argument("old", metavar="OLD", help="the folder's current full name")
    rename.add_argument("new", metavar="NEW", help="the folder's new full name")
    delete = actions.add_parser("delete", help="delete a folder with its mail, on the server and locally", parents=[common])
    delete.add_argument("name", metavar="NAME", help="the folder to delete; it must have no sub-folders")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    for parser in (create, rename, delete):
        parser.add_argument("--account", metavar="NAME", help="the account (required when there are several)")


def _add_rules_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rules = commands.add_parser("rules", help="check, run, explain or export rule files (see docs/rules.md)", parents=[common])
    actions = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", parents=[common],
        help="validate rule files and list every problem with its file and line",
        description="Validate rule files. Prints 'OK: N rules in M files', or each problem on stderr and "
        "exits with status 1. When the local store has folders, folder names in the rules are checked too.",
    )
    check.add_argument("files", nargs="*", metavar="FILE", type=Path,
                       help="rule files or folders to check (default: every *.toml file in the profile's rules folder)")
    apply = actions.add_parser(
        "apply", parents=[common],
        help="run the rules on mail already in the local store (--dry-run shows what they would do)",
        description="Run the rules on existing mail. Each rule looks at its own scope (default: INBOX); "
        "--account, --folder and --query narrow that down. A run can be undone with 'sluice undo'.",
    )
    apply.add_argument("--account", metavar="NAME", help="only messages of this account")
    apply.add_argument("--folder", metavar="FOLDER", help="only messages of this folder, instead of each rule's scope")
    apply.add_argument("--query", metavar="QUERY", help="only messages matching this search (docs/search.md)")
    apply.add_argument("--rules", metavar="PATH", type=Path,
                       help="a rule file or folder (default: the profile's rules folder)")
    apply.add_argument("--dry-run", action="store_true",
                       help="change nothing; print per rule how many messages it would touch, with a sample")
    apply.add_argument("--send-auto-replies", action="store_true",
                       help="also send the rules' auto-replies; by default they go only to new mail during sync")
    apply.add_argument("--no-send", action="store_true",
                       help="keep the server changes queued for the next 'sluice sync' instead of sending them now")
    explain = actions.add_parser(
        "explain", parents=[common],
        help="say which rules matched a message, which condition decided, and what each did",
    )
    explain.add_argument("message", metavar="MESSAGE-ID",
                         help="the message's Message-ID header (with or without <>), or its number in the store")
    explain.add_argument("--rules", metavar="PATH", type=Path,
                         help="a rule file or folder (default: the profile's rules folder)")
    sieve = actions.add_parser(
        "export-sieve", parents=[common],
        help="write the rules Sieve can express as a Sieve script, and list the ones it cannot",
    )
    sieve.add_argument("--rules", metavar="PATH", type=Path,
                       help="a rule file or folder (default: the profile's rules folder)")
    sieve.add_argument("--output", "-o", metavar="FILE", type=Path, help="write the script here (default: standard output)")
    undo = commands.add_parser(
        "undo", parents=[common],
        help="undo the last rule run or bulk action, moves and flags included",
    )
    undo.add_argument("--list", action="store_true", help="list recent undoable actions instead")
    undo.add_argument("--no-send", action="store_true",
                      help="keep the server changes queued for the next 'sluice sync' instead of sending them now")


# Commands whose parser and handler live next to their feature. Each module has
# add_commands(commands, common) and run(args, profile) -> exit status, and
# sets the parser's "command" to one of COMMANDS.
_COMMAND_MODULES = ("desktop.merge.cli", "desktop.snooze_cli", "desktop.compose.cli")


def _command_modules() -> list:
    import importlib

    return [importlib.import_module(name) for name in _COMMAND_MODULES]


def _add_keys_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help="check or list the window's key bindings (see docs/keys.md)", parents=[common])
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", parents=[common],
        help="validate a key file and list every problem with its file and line",
        description="Validate key bindings against the defaults. Prints 'OK: ...', or each problem on stderr and "
        "exits with status 1.",
    )
    check.add_argument("file", nargs="?", metavar="FILE", type=Path,
                       help="the key file to check (default: keys.toml in the profile's config folder)")
    listing = actions.add_parser("list", parents=[common], help="print the key bindings in force, per mode")
    listing.add_argument("file", nargs="?", metavar="FILE", type=Path,
                         help="the key file to apply over the defaults (default: keys.toml in the profile's config folder)")


def _add_password_source(parser: argparse.ArgumentParser, *, oauth2: bool = False) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    source.add_argument("--password-command", metavar="CMD", help="run CMD at connect time; its first output line is the password")
    if oauth2:
        source.add_argument(
            "--oauth2-token-command", metavar="CMD",
            help="log in with OAuth 2.0 (OAUTHBEARER or XOAUTH2, as Gmail and Microsoft 365 use) instead of a password; "
                 "CMD runs at connect time and its first output line is the access token",
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_separate_search_terms(list(sys.argv[1:] if argv is None else argv)))
    try:
        profile = _open_profile(args)
        setup_logging(profile.log_file, verbose=args.verbose)
        return _dispatch(args, profile)
    except (ConfigError, CredentialError, StoreError) as error:
        print(f"sluice: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("sluice: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of the output went away, as `sluice search ... | head` does; that is not an error.
        # Python would report the pipe again when it flushes stdout at exit, so stdout goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _separate_search_terms(argv: list[str]) -> list[str]:
    """Put '--' before the search terms, so a term such as '-from:news' is not taken for an option."""
    if "search" not in argv or "--" in argv:
        return argv
    start = argv.index("search") + 1
    options: list[str] = []
    terms: list[str] = []
    position = start
    while position < len(argv):
        word = argv[position]
        name = word.split("=", 1)[0]
        if name in SEARCH_OPTIONS_WITH_VALUE and "=" not in word and position + 1 < len(argv):
            options += argv[position : position + 2]
            position += 2
            continue
        if name in SEARCH_OPTIONS_WITH_VALUE or word in SEARCH_FLAGS:
            options.append(word)
        else:
            terms.append(word)
        position += 1
    return argv[:start] + options + ["--"] + terms


def _open_profile(args: argparse.Namespace) -> Profile:
    """Return the chosen profile with its folders created, or raise ConfigError saying why not."""
    if args.home and Path(args.home).expanduser().exists() and not Path(args.home).expanduser().is_dir():
        raise ConfigError(f"--home {args.home} is a file, not a folder; give a folder for Sluice's profile.")
    profile = default_profile(args.home)
    if args.demo:
        from desktop.demo import prepare_demo

        # The demo keeps a profile of its own, apart from real accounts: a "demo" folder
        # inside --home or SLUICE_HOME when one is named, else the platform's.
        chosen = profile_at(profile.data_dir / "demo") if args.home or os.environ.get(HOME_ENV) else None
        try:
            return prepare_demo(chosen)
        except OSError as error:
            raise ConfigError(f"Cannot set up the demo profile: {sentence(error)}") from error
    try:
        return profile.ensure()
    except OSError as error:
        raise ConfigError(f"Cannot create the profile folders under {profile.data_dir}: {error.strerror}. Choose another --home.") from error


def _dispatch(args: argparse.Namespace, profile: Profile) -> int:
    if args.command is None:
        return _open_window(profile)
    if args.command == "account":
        handlers = {"add": _account_add, "list": _account_list, "remove": _account_remove, "password": _account_password}
        return handlers[args.account_command](args, profile)
    if args.command == "sync":
        return _sync(args, profile)
    if args.command == "search":
        return _search(args, profile)
    if args.command == "folders":
        return _folders(args, profile)
    if args.command == "index":
        return _index_rebuild(profile)
    if args.command == "folder":
        return _folder(args, profile)
    if args.command == "rules":
        if args.rules_command == "apply":
            from desktop.rules.commands import apply_command

            return apply_command(args, profile)
        if args.rules_command == "explain":
            from desktop.rules.commands import explain_command

            return explain_command(args, profile)
        if args.rules_command == "export-sieve":
            from desktop.rules.sieve import export_command

            return export_command(args, profile)
        return _rules_check(args, profile)
    if args.command == "undo":
        from desktop.rules.commands import undo_command

        return undo_command(args, profile)
    if args.command == "keys":
        from desktop.keymap import check_command, list_command

        return check_command(args, profile) if args.keys_command == "check" else list_command(args, profile)
    for module in _command_modules():
        if args.command in module.COMMANDS:
            return module.run(args, profile)
    raise AssertionError(f"unhandled command {args.command}")


def _open_window(profile: Profile) -> int:
    if sys.platform.startswith("linux") and not _display_available():
        print(
            "sluice: No display found, so the window cannot open. Run it in a desktop session, set DISPLAY, "
            "or use xvfb-run; the commands (sluice --help) work without a display.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    from desktop.ui.app import run

    return run(profile)


def _display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _account_add(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.config import is_plain_address
    from desktop.send.credentials import smtp_keyring_entry, store_smtp_password, uses_imap_secret

    validate_account_name(args.name)
    config = load_config(profile.config_file)
    if args.name in config.accounts:
        raise ConfigError(f"Account {args.name!r} exists already; remove it first with 'sluice account remove {args.name}'.")
    account = Account(
        name=args.name,
        imap_host=args.imap_host,
        imap_port=args.imap_port or DEFAULT_PORTS[args.security],
        security=args.security,
        user=args.user,
        password_command=args.password_command or "",
        oauth2_token_command=args.oauth2_token_command or "",
        smtp_host=args.smtp_host or "",
        smtp_port=(args.smtp_port or DEFAULT_SMTP_PORTS[args.smtp_security]) if args.smtp_host else 0,
        smtp_security=args.smtp_security,
        smtp_user="" if args.smtp_user in (None, args.user) else args.smtp_user,
        address=args.address or (args.user if is_plain_address(args.user) else ""),
        aliases=list(args.alias),
    )
    account.validate()
    separate_smtp = bool(account.smtp_host) and not uses_imap_secret(account)
    if separate_smtp and account.oauth2_token_command:
        raise ConfigError(
            f"Account {account.name!r}: with --oauth2-token-command, SMTP logs in with the same token as IMAP, "
            f"so --smtp-user must be left out or equal --user ({account.user!r})."
        )
    imap_password = None
    if not account.password_command and not account.oauth2_token_command:
        imap_password = _read_password(args, account.user)
    smtp_password = _read_smtp_password(args, account.smtp_login) if separate_smtp else None
    if imap_password is not None:
        store_password(account.name, imap_password)
    if smtp_password is not None:
        store_smtp_password(account.name, smtp_password)
    config.accounts[account.name] = account
    save_config(config, profile.config_file)
    print(f"Added account {account.name!r} ({account.user} at {account.imap_host}:{account.imap_port}, {account.security}).")
    if smtp_password is not None:
        print(f"Stored the SMTP password of {account.smtp_login} in the keyring as {smtp_keyring_entry(account.name)!r}.")
    print(f"Fetch its mail with: sluice sync --account {account.name}")
    return EXIT_OK


def _read_smtp_password(args: argparse.Namespace, smtp_user: str) -> str:
    """Read the separate SMTP password: the next line of stdin with --password-stdin, else a prompt."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"SMTP password for {smtp_user}: ")
    else:
        raise CredentialError(
            f"No SMTP password given for {smtp_user!r}: with --password-stdin, write it on the line after the IMAP "
            "password (only the SMTP password when --password-command is used), or leave out --smtp-user to use the "
            "IMAP login."
        )
    if not password:
        raise CredentialError(f"The SMTP password for {smtp_user!r} is empty; type it again.")
    return password


def _read_password(args: argparse.Namespace, user: str) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {user}: ")
    else:
        raise CredentialError("No password given: use --password-stdin to read it from standard input, or --password-command CMD.")
    if not password:
        raise CredentialError("The password is empty; type it again, or use --password-command CMD.")
    return password


def _account_password(args: argparse.Namespace, profile: Profile) -> int:
    config = load_config(profile.config_file)
    account = config.account(args.name)
    if account.kind != "imap":
        raise ConfigError(f"Account {account.name!r} is {account.kind} and has no password.")
    # A password replaces an OAuth 2.0 token command, since connect() prefers the token.
    if args.password_command:
        account.password_command = args.password_command
        account.oauth2_token_command = ""
        save_config(config, profile.config_file)
        delete_password(account.name)
        print(f"Account {account.name!r} now gets its password from the command.")
        return EXIT_OK
    store_password(account.name, _read_password(args, account.user))
    if account.password_command or account.oauth2_token_command:
        account.password_command = ""
        account.oauth2_token_command = ""
        save_config(config, profile.config_file)
    print(f"Stored the new password of account {account.name!r} in the keyring.")
    return EXIT_OK


def _account_list(args: argparse.Namespace, profile: Profile) -> int:
    config = load_config(profile.config_file)
    if not config.accounts:
        print("No accounts yet. Add one with: sluice account add NAME --imap-host HOST --user USER")
        return EXIT_OK
    for account in config.accounts.values():
        if account.kind == "local":
            print(f"{account.name}\tlocal")
            continue
        source = _login_source(account)
        smtp = _smtp_summary(account)
        print(f"{account.name}\timap {account.user}@{account.imap_host}:{account.imap_port} {account.security}\t{source}{smtp}")
    return EXIT_OK


def _smtp_summary(account: Account) -> str:
    """Return the tab-led SMTP and address columns of 'account list', or "" without an SMTP server."""
    if not account.smtp_host:
        return "\tno smtp"
    where = f"{account.smtp_login}@{account.smtp_host}:{account.smtp_port_or_default} {account.smtp_security}"
    addresses = ", ".join([account.address, *account.aliases]) if account.address or account.aliases else "no address"
    return f"\tsmtp {where}\t{addresses}"


def _login_source(account: Account) -> str:
    if account.oauth2_token_command:
        return f"OAuth 2.0 token command {account.oauth2_token_command!r}"
    return "password command" if account.password_command else "keyring"


def _account_remove(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.store import Store

    config = load_config(profile.config_file)
    account = config.account(args.name)
    del config.accounts[account.name]
    save_config(config, profile.config_file)
    if not account.password_command and not account.oauth2_token_command and account.kind == "imap":
        delete_password(account.name)
    if account.kind == "imap":
        from desktop.send.credentials import delete_smtp_password

        delete_smtp_password(account.name)
    with Store(profile.store_file) as store:
        removed = store.remove_account(account.name)
        # A new account of the same name must not inherit the auto-reply rate limits.
        store.forget_auto_replies(account.name)
    _drain_index(profile)
    print(f"Removed account {account.name!r} and {pluralize(removed, 'local message')}. Mail on the server is untouched.")
    return EXIT_OK


def _sync(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.sync.errors import SyncFailures
    from desktop.sync.service import CancelToken, sync_profile
    from desktop.sync.watch import WatchOptions, stop_on_signals, watch_profile

    config = load_config(profile.config_file)
    config.selected(args.account)
    if not config.accounts:
        print("No accounts to sync. Add one with: sluice account add NAME --imap-host HOST --user USER", file=sys.stderr)
        return EXIT_FAILED
    if args.watch:
        try:
            options = WatchOptions(full_sync_seconds=args.interval * 60, poll_seconds=args.poll_seconds,
                                   use_idle=not args.no_idle, max_seconds=args.max_seconds)
        except ValueError as error:
            print(f"sluice sync: {error}", file=sys.stderr)
            return EXIT_USAGE
        token = CancelToken()
        with stop_on_signals(token):
            for step in watch_profile(profile, account=args.account, cancel=token, options=options):
                if not args.quiet or step.phase in ("error", "retry", "warning"):
                    _print_progress(step)
        return EXIT_OK
    try:
        for step in sync_profile(profile, account=args.account):
            # Failures are printed once, together, when the run ends. Warnings, such as a rule
            # file problem, are printed even with --quiet.
            if step.phase == "warning" or (not args.quiet and step.phase != "error"):
                _print_progress(step)
    except SyncFailures as failures:
        for error in failures.errors:
            print(f"sluice: {error}", file=sys.stderr)
        print(f"sluice: details are in {profile.log_file}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# Phases that report N/M counts: a terminal shows them on one updating line.
_COUNTED_PHASES = ("fetch", "bodies", "index", "flags")


def _print_progress(step) -> None:
    stream = sys.stderr if step.phase in ("error", "warning") else sys.stdout
    if step.phase in _COUNTED_PHASES and stream.isatty():
        end = "\n" if step.done >= step.total else "\r"
        print(step.text, end=end, file=stream, flush=True)
        return
    if step.phase in _COUNTED_PHASES and 0 < step.done < step.total:
        return
    print(step.text, file=stream, flush=True)


def _search(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.index import QueryError, SearchIndex
    from desktop.store import Store

    if args.limit < 0:
        raise ConfigError(f"--limit {args.limit} is invalid; use 0 for all matches or a positive number.")
    query = " ".join(args.query)
    config = load_config(profile.config_file)
    accounts = [config.account(args.account).name] if args.account else None
    index = SearchIndex(profile.index_dir)
    try:
        ids = index.search(query, limit=args.limit or None, accounts=accounts)
        total = index.count(query, accounts=accounts) if args.limit and len(ids) == args.limit else len(ids)
    except QueryError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        index.close()
    with Store(profile.store_file) as store:
        # Gmail lists every message in All Mail too; show such a match once, in its label's folder.
        visible_ids = store.without_all_mail_twins(ids)
        rows = store.messages(visible_ids)
    total -= len(ids) - len(visible_ids)
    if args.json:
        json.dump([_row_json(row) for row in rows], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    for row in rows:
        date = row.date.strftime("%Y-%m-%d %H:%M") if row.date else "(no date)      "
        print(f"{row.id:>8}  {date}  {_clip(row.sender, 28)}  {_clip(row.subject, 60)}  {row.account}/{row.folder}")
    if not rows:
        print("No matches.", file=sys.stderr)
    elif total > len(rows):
        print(f"Showing the newest {len(rows)} of {total} matches; use --limit 0 to see all.", file=sys.stderr)
    return EXIT_OK


def _row_json(row) -> dict:
    return {
        "id": row.id,
        "date": row.date.isoformat() if row.date else None,
        "from": row.from_addr,
        "from_name": row.from_name,
        "subject": row.subject,
        "account": row.account,
        "folder": row.folder,
        "flags": sorted(row.flags),
    }


def _cell_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _clip(text: str, width: int) -> str:
    """Return ``text`` cut and padded to ``width`` terminal cells (CJK characters take two)."""
    text = " ".join(text.split())
    if sum(_cell_width(char) for char in text) > width:
        kept, cells = [], 0
        for char in text:
            if cells + _cell_width(char) > width - 1:
                break
            kept.append(char)
            cells += _cell_width(char)
        text = "".join(kept) + "…"
    used = sum(_cell_width(char) for char in text)
    return text + " " * (width - used)


def _pad(text: str, width: int) -> str:
    """Return ``text`` padded to ``width`` terminal cells (CJK characters take two); a longer text is kept whole."""
    used = sum(_cell_width(char) for char in text)
    return text + " " * max(0, width - used)


def _folders(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.store import Store

    config = load_config(profile.config_file)
    if args.account:
        config.account(args.account)
    with Store(profile.store_file) as store:
        folders = store.folders(args.account)
    if not folders:
        print("No folders yet. Run 'sluice sync' first.", file=sys.stderr)
        return EXIT_OK
    print(f"{'ACCOUNT':<12} {'FOLDER':<40} {'TOTAL':>8} {'UNREAD':>8}")
    for folder in folders:
        print(f"{_pad(folder.account, 12)} {_pad(folder.name, 40)} {folder.total:>8} {folder.unread:>8}")
    return EXIT_OK


def _index_rebuild(profile: Profile) -> int:
    from desktop.index import SearchIndex
    from desktop.index.builder import rebuild_index
    from desktop.store import Store

    with Store(profile.store_file) as store:
        index = SearchIndex(profile.index_dir)
        try:
            total = 0
            for step in rebuild_index(store, index):
                total = step.total
                _print_progress(_IndexStep(step.done, step.total))
        finally:
            index.close()
    print(f"Rebuilt the index: {pluralize(total, 'message')}.")
    return EXIT_OK


class _IndexStep:
    phase = "index"

    def __init__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.text = f"Indexing {done}/{total}"


def _drain_index(profile: Profile) -> None:
    from desktop.index.builder import catch_up
    from desktop.store import Store

    with Store(profile.store_file) as store:
        catch_up(store, profile.index_dir)


def _folder(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.sync.errors import SyncError
    from desktop.sync.folders import FolderError, create_folder, delete_folder, local_message_count, rename_folder

    config = load_config(profile.config_file)
    if args.account:
        account = config.account(args.account).name
    elif len(config.accounts) == 1:
        account = next(iter(config.accounts))
    elif not config.accounts:
        raise ConfigError("No accounts yet. Add one with: sluice account add NAME --imap-host HOST --user USER")
    else:
        raise ConfigError(f"There are several accounts ({', '.join(sorted(config.accounts))}); choose one with --account NAME.")
    try:
        if args.folder_command == "create":
            create_folder(profile, account, args.name)
            print(f"Created folder {args.name!r} in account {account!r}.")
        elif args.folder_command == "rename":
            moved = rename_folder(profile, account, args.old, args.new)
            _drain_index(profile)
            print(f"Renamed folder {args.old!r} of account {account!r} to {args.new!r} "
                  f"({pluralize(moved, 'local message')} kept).")
        else:
            if not args.yes and not _confirm_delete(config.accounts[account], args.name,
                                                   local_message_count(profile, account, args.name)):
                return EXIT_USAGE
            removed = delete_folder(profile, account, args.name)
            _drain_index(profile)
            print(f"Deleted folder {args.name!r} of account {account!r} and {pluralize(removed, 'local message')}.")
    except (FolderError, SyncError) as error:
        print(f"sluice: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _confirm_delete(account: Account, name: str, count: int) -> bool:
    """Ask on the terminal; without one, print how to confirm with --yes and return False."""
    server = " with its mail on the server" if account.kind == "imap" else ""
    what = f"folder {name!r} of account {account.name!r}{server} and {pluralize(count, 'local message')}"
    if not sys.stdin.isatty():
        print(f"sluice: Not deleting {what}: no terminal to confirm on. Add --yes to delete it.", file=sys.stderr)
        return False
    answer = input(f"Delete {what}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        print("Nothing deleted.")
        return False
    return True


def _rules_check(args: argparse.Namespace, profile: Profile) -> int:
    from desktop.rules.loader import check_files, store_folders

    paths = args.files or [profile.rules_dir]
    missing = [path for path in paths if not path.exists()]
    if missing:
        print(f"sluice: rule file {missing[0]} not found. Give an existing file or folder.", file=sys.stderr)
        return EXIT_FAILED
    ruleset, problems = check_files(paths, store_folders(profile.store_file))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{pluralize(len(problems), 'problem')} found.", file=sys.stderr)
        return EXIT_FAILED
    file_count = len(ruleset.files)
    if file_count == 0:
        print(f"No rule files in {', '.join(str(path) for path in paths)}. Add a *.toml file (see docs/rules.md).")
    print(f"OK: {pluralize(len(ruleset.rules), 'rule')} in {pluralize(file_count, 'file')}")
    return EXIT_OK

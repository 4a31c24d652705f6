"""`klantsignaal users add` and `klantsignaal tokens add`: staff accounts and API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from pipeline.settings import Settings
from pipeline.web.authz import ROLES, SCOPES


def _store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.web.accounts import AccountStore

    settings = Settings.from_env(data_dir=Path(args.data_dir) if args.data_dir else None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return AccountStore(settings.accounts)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Wachtwoord: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_add(args: argparse.Namespace) -> int:
    from pipeline.web.accounts import AccountError

    try:
        _store(args).add_user(args.username, _read_password(), args.role, args.team or [])
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    default = "no teams" if args.role == "caseworker" else "all teams"
    teams = ", ".join(args.team or []) or default
    print(f"user {args.username} added as {args.role} ({teams})")
    return 0


def cmd_tokens_add(args: argparse.Namespace) -> int:
    from pipeline.web.accounts import AccountError

    try:
        token = _store(args).add_token(args.name, args.scope, args.team or [])
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    teams = ", ".join(args.team or []) or "all teams"
    print(f"token {args.name} ({args.scope}, {teams}); it is shown only now: {token}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="staff accounts for the inbox (sign-in at /login)")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add or replace a user; the password is read from stdin")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--team", action="append", help="a team the user works for (repeatable)")
    add.add_argument("--data-dir")
    add.set_defaults(func=cmd_users_add)

    tokens = sub.add_parser("tokens", help="API tokens with a scope for other systems")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    tadd = tokens_sub.add_parser("add", help="make a token; it is printed once, as the last word")
    tadd.add_argument("name")
    tadd.add_argument("--scope", required=True, choices=SCOPES)
    tadd.add_argument("--team", action="append", help="limit the token to this team (repeatable)")
    tadd.add_argument("--data-dir")
    tadd.set_defaults(func=cmd_tokens_add)

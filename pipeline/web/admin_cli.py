"""`klantsignaal users add|list|remove` and `tokens add|list|revoke`: staff and API tokens."""

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


def cmd_users_list(args: argparse.Namespace) -> int:
    for u in _store(args).list_users():
        teams = ", ".join(u["teams"]) or ("no teams" if u["role"] == "caseworker" else "all teams")
        print(f"{u['username']}\t{u['role']}\t{teams}\tadded {u['created_at']:%Y-%m-%d}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    if not _store(args).remove_user(args.username):
        print(f"error: no user {args.username}", file=sys.stderr)
        return 1
    print(f"user {args.username} removed; their sessions have ended")
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    for t in _store(args).list_tokens():
        teams = ", ".join(t["teams"]) or "all teams"
        added = f"{t['created_at']:%Y-%m-%d}"
        print(f"{t['name']}\t{t['scope']}\t{teams}\tadded {added}\tfingerprint {t['fingerprint']}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    count = _store(args).revoke_tokens(args.name, args.fingerprint)
    if not count:
        print(f"error: no token named {args.name}", file=sys.stderr)
        return 1
    print(f"{count} token(s) named {args.name} revoked; they no longer work")
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
    ulist = users_sub.add_parser("list", help="list users with role and teams")
    ulist.add_argument("--data-dir")
    ulist.set_defaults(func=cmd_users_list)
    remove = users_sub.add_parser("remove", help="remove a user; their sessions end at once")
    remove.add_argument("username")
    remove.add_argument("--data-dir")
    remove.set_defaults(func=cmd_users_remove)

    tokens = sub.add_parser("tokens", help="API tokens with a scope for other systems")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    tadd = tokens_sub.add_parser("add", help="make a token; it is printed once, as the last word")
    tadd.add_argument("name")
    tadd.add_argument("--scope", required=True, choices=SCOPES)
    tadd.add_argument("--team", action="append", help="limit the token to this team (repeatable)")
    tadd.add_argument("--data-dir")
    tadd.set_defaults(func=cmd_tokens_add)
    tlist = tokens_sub.add_parser("list", help="list tokens by name, scope, teams and fingerprint")
    tlist.add_argument("--data-dir")
    tlist.set_defaults(func=cmd_tokens_list)
    revoke = tokens_sub.add_parser("revoke", help="revoke the tokens with this name, at once")
    revoke.add_argument("name")
    revoke.add_argument("--fingerprint", help="only the token whose fingerprint starts with this")
    revoke.add_argument("--data-dir")
    revoke.set_defaults(func=cmd_tokens_revoke)

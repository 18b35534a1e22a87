"""`grade review`, `grade override`, `grade comment`, `grade history`: the review subcommands.

grader/cli.py hands argv here when its first word is one of `COMMANDS` (a student folder
literally named like a command is still graded as `grade ./review`).  The override,
comment and history commands need the standard library only; `grade review` imports
Starlette and uvicorn (the `review` extra) when it starts.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from grader.errors import UsageError
from grader.reports.i18n import LANGS
from grader.review.rewrite import rewrite_student_files
from grader.decisions.store import ReviewStore

COMMANDS = ("review", "override", "comment", "history")
_EXPORTS_HINT = "the class exports (gradebook.csv, canvas.csv, ...) take it on the next `grade CLASS --out {out}` (nothing unchanged is regraded)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade", description="Review a graded class: overrides, comments, history.")
    sub = parser.add_subparsers(dest="command", required=True)
    review = sub.add_parser("review", help="serve the review web app over OUT (prints the URL with its token)")
    review.add_argument("out", type=Path, metavar="OUT", help="the class's output folder (with gradebook.sqlite)")
    review.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    review.add_argument("--host", nargs="?", const="0.0.0.0", default=None, metavar="ADDR",
                        help="listen on ADDR (default without --host: 127.0.0.1 only; --host alone: every interface)")
    review.add_argument("--lang", choices=LANGS, default="en", help="the pages' language until a TA picks one")
    override = sub.add_parser("override", help="set a check's points for a student, with a reason")
    override.add_argument("out", type=Path, metavar="OUT")
    override.add_argument("student")
    override.add_argument("check", metavar="CHECK", help="the check id, e.g. numpy.relu.backward")
    override.add_argument("points", metavar="POINTS", nargs="?", default=None, help="the new points, 0 to the check's maximum")
    override.add_argument("--remove", action="store_true", help="drop the override instead: the autograder's points count again")
    override.add_argument("--reason", required=True, help="why (shown to the student unless --staff-only)")
    override.add_argument("--staff-only", action="store_true", help="keep the reason for staff; the student sees the points only")
    override.add_argument("--by", default=None, metavar="NAME", help="who (default: the login name)")
    comment = sub.add_parser("comment", help="comment on a line of a student's code (FILE:LINE) or on a check (CHECK)")
    comment.add_argument("out", type=Path, metavar="OUT")
    comment.add_argument("student")
    comment.add_argument("where", metavar="FILE:LINE", help="e.g. 'hw4.ipynb [cell 3]:14' as report.html labels it, or a check id")
    comment.add_argument("text", metavar="TEXT")
    comment.add_argument("--staff-only", action="store_true", help="staff see it, the student does not")
    comment.add_argument("--by", default=None, metavar="NAME")
    history = sub.add_parser("history", help="every review change (who, when, old, new, why)")
    history.add_argument("out", type=Path, metavar="OUT")
    history.add_argument("student", nargs="?", default=None)
    return parser


def run(argv: Sequence[str]) -> int:
    """Run one review subcommand (argv starts with its name); returns the exit code."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.command == "review":
        return _serve(args)
    store = ReviewStore(args.out)
    try:
        if args.command == "override" and args.remove:
            store.remove_override(args.student, args.check, reason=args.reason, author=args.by or _login())
            rewrite_student_files(store.book, args.out, args.student)
            print(f"{args.student}: override of {args.check} removed; " + _EXPORTS_HINT.format(out=args.out))
        elif args.command == "override":
            if args.points is None:
                raise UsageError("grade override: give POINTS (the check's new points), or --remove to drop the override")
            done = store.set_override(args.student, args.check, args.points, reason=args.reason, staff_only=args.staff_only,
                                      author=args.by or _login())
            rewrite_student_files(store.book, args.out, args.student)
            print(f"{args.student}: {args.check} = {done.points:g} (autograder: {done.autograder_score:g}); "
                  + _EXPORTS_HINT.format(out=args.out))
        elif args.command == "comment":
            file, line, check = _where(args.where)
            store.add_comment(args.student, args.text, file=file, line=line, check_id=check, staff_only=args.staff_only,
                              author=args.by or _login())
            rewrite_student_files(store.book, args.out, args.student)
            print(f"{args.student}: comment on {args.where} stored")
        else:
            for entry in store.history(args.student):
                staff = " [staff-only]" if entry.staff_only and entry.kind in ("override", "comment") else ""
                print(f"{entry.changed}  {entry.author}  {entry.student}  {entry.kind} {entry.target}: "
                      f"{entry.old or '-'} -> {entry.new or '-'}{f'  ({entry.why})' if entry.why else ''}{staff}")
    finally:
        store.close()
    return 0


def _where(where: str) -> tuple[str | None, int | None, str | None]:
    """'FILE:LINE' -> (file, line, None); anything else is a check id: (None, None, check)."""
    match = re.fullmatch(r"(.+):(\d+)", where)
    if match:
        return match.group(1), int(match.group(2)), None
    return None, None, where


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "") or "cli"


def _serve(args: argparse.Namespace) -> int:
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("starlette", "uvicorn", "multipart")):
        raise UsageError("grade review needs Starlette, uvicorn and python-multipart, which are not installed here; "
                         "pip install 'nn-grader[review]'")
    import uvicorn

    from grader.review.app import ReviewConfig, create_app
    from grader.review.auth import Access

    ReviewStore(args.out).close()  # a folder without gradebook.sqlite fails here, with the fix, before serving
    access = Access.new()
    host = args.host or "127.0.0.1"
    app = create_app(ReviewConfig(out=args.out, access=access, lang=args.lang, open_host=args.host is not None))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"grade review: serving {args.out} at http://{shown}:{args.port}/?token={access.token}", flush=True)
    print("  (open that URL; Ctrl-C stops the server)", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

"""The web app of `grade review OUT`: class, student and similarity pages over the class's gradebook.

Plain HTML forms, no JavaScript (the pages' Content-Security-Policy allows no script at
all, so nothing a student wrote can run).  Every page reads gradebook.sqlite afresh and
every change is one transaction in grader/decisions/store.py; after a change the student's
report.html and result.json are rewritten from the final report.  The class exports
(gradebook.csv, canvas.csv, ...) are rewritten by the next `grade CLASS --out OUT`,
which regrades nothing that is unchanged.
"""

from __future__ import annotations

import functools
from datetime import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from grader.reports.i18n import LANGS, Lang, markup, text
from grader.safe_ast import COMPILE_LOCK
from grader.review.auth import LANG_COOKIE, NAME_COOKIE, TOKEN_COOKIE, Access, host_ok
from grader.review.rewrite import rewrite_student_files
from grader.decisions.store import DECISIONS, ReviewError, ReviewStore, StaleForm
from grader.review.views import FILTERS, class_view, pair_views, student_view

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
_CLASS_FILES = ("gradebook.csv", "gradebook.xlsx", "canvas.csv", "moodle.csv", "summary.html", "similarity.html",
                "similarity.csv")
_STUDENT_FILES = ("report.html", "result.json")
_MAX_NAME = 80


@dataclass(frozen=True)
class ReviewConfig:
    """What `grade review` serves: the output folder, the secrets, the default language."""

    out: Path
    access: Access
    lang: Lang = "en"
    open_host: bool = False
    """--host: accept any Host header (the server is reachable from other machines)."""


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def create_app(config: ReviewConfig) -> Starlette:
    """The Starlette app for `config` (served by uvicorn in grader/review/cli.py; tests use it directly)."""
    pages = _Pages(config)
    routes = [
        Route("/", pages.class_page),
        Route("/name", pages.name_page, methods=["GET", "POST"]),
        Route("/lang", pages.set_lang, methods=["POST"]),
        Route("/similarity", pages.similarity_page, methods=["GET", "POST"]),
        Route("/files/{name}", pages.class_file),
        Route("/student/{student}", pages.student_page),
        Route("/student/{student}/files/{name}", pages.student_file),
        Route("/student/{student}/override", pages.override, methods=["POST"]),
        Route("/student/{student}/remove", pages.remove, methods=["POST"]),
        Route("/student/{student}/comment", pages.comment, methods=["POST"]),
        Route("/student/{student}/reviewed", pages.reviewed, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=_guard(config))])


def _guard(config: ReviewConfig) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """The middleware: loopback Host, the token (query once, then the cookie), the TA's name, security headers."""

    async def dispatch(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        lang = _lang(request, config)
        if not host_ok(request.headers.get("host"), open_host=config.open_host):
            return _headers(_error_page(lang, 400, text(lang, "review.error.host")))
        given = request.query_params.get("token")
        if given is not None and config.access.token_ok(given):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response: Response = RedirectResponse(request.url.path + ("?" + urlencode(rest) if rest else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, config.access.token, httponly=True, samesite="strict")
            return _headers(response)
        if not config.access.token_ok(request.cookies.get(TOKEN_COOKIE)):
            return _headers(_error_page(lang, 403, text(lang, "review.error.token")))
        if not request.cookies.get(NAME_COOKIE) and request.url.path != "/name":
            return _headers(RedirectResponse("/name?" + urlencode({"next": str(request.url.path)}), status_code=303))
        return _headers(await call_next(request))

    return dispatch


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _lang(request: Request, config: ReviewConfig) -> Lang:
    chosen = request.cookies.get(LANG_COOKIE)
    return next((code for code in LANGS if code == chosen), config.lang)


def _render(name: str, request: Request | None, lang: Lang, status: int = 200, **values: object) -> HTMLResponse:
    ta = _ta(request) if request is not None else ""
    with COMPILE_LOCK:  # compiling a template is compiling Python: see grader/safe_ast.py
        template = _environment().get_template(name)
    page = template.render(t=functools.partial(text, lang), m=functools.partial(markup, lang=lang),
                                                    lang=lang, langs=LANGS, ta=ta, quote=_quote, **values)
    return HTMLResponse(page, status_code=status)


def _quote(student: str) -> str:
    """A student's name as one URL path segment ('.' and '..' too)."""
    name = quote(student, safe="")
    return name.replace(".", "%2E") if set(name) <= {"."} else name


def _error_page(lang: Lang, status: int, message: str, back: str = "/") -> HTMLResponse:
    return _render("error.html.j2", None, lang, status, message=message, back=back, csrf="")


class _Pages:
    """The endpoints; each opens the store for its request (SQLite connections are per thread)."""

    def __init__(self, config: ReviewConfig) -> None:
        self.config = config

    def _store(self) -> ReviewStore:
        return ReviewStore(self.config.out)

    async def _form(self, request: Request) -> FormData:
        form = await request.form()
        value = form.get("csrf")
        if not self.config.access.csrf_ok(value if isinstance(value, str) else None):
            raise ReviewError("csrf")
        return form

    def _page(self, name: str, request: Request, status: int = 200, **values: object) -> HTMLResponse:
        return _render(name, request, _lang(request, self.config), status, csrf=self.config.access.csrf, **values)

    def _failure(self, request: Request, error: ReviewError, back: str) -> HTMLResponse:
        lang = _lang(request, self.config)
        status = 409 if isinstance(error, StaleForm) else 403 if error.key == "csrf" else 400
        return _error_page(lang, status, text(lang, f"review.error.{error.key}", **error.values), back)

    async def class_page(self, request: Request) -> Response:
        store = self._store()
        try:
            view = class_view(store, show=request.query_params.get("show", "all"), check=request.query_params.get("check", ""))
            files = [f for f in _CLASS_FILES if (self.config.out / f).is_file()]
            return self._page("class.html.j2", request, view=view, filters=FILTERS, files=files,
                              pairs=len(store.flagged_pairs()), stale=_stale_exports(store, self.config.out, files),
                              source=store.last_source(), out=str(self.config.out))
        finally:
            store.close()

    async def student_page(self, request: Request) -> Response:
        student = request.path_params["student"]
        store = self._store()
        try:
            view = student_view(store, student)
        except ReviewError as error:
            lang = _lang(request, self.config)
            return _error_page(lang, 404, text(lang, f"review.error.{error.key}", **error.values))
        finally:
            store.close()
        return self._page("student.html.j2", request, view=view, saved=request.query_params.get("saved", ""))

    async def override(self, request: Request) -> Response:
        student = request.path_params["student"]

        def change(store: ReviewStore, form: FormData) -> None:
            store.set_override(student, _field(form, "check"), _field(form, "points"), reason=_field(form, "reason"),
                               staff_only=_field(form, "visibility") == "staff", author=_ta(request),
                               version=_version(form))
        return await self._change(request, student, change, "override")

    async def remove(self, request: Request) -> Response:
        student = request.path_params["student"]

        def change(store: ReviewStore, form: FormData) -> None:
            store.remove_override(student, _field(form, "check"), reason=_field(form, "reason"), author=_ta(request),
                                  version=_version(form))
        return await self._change(request, student, change, "removed")

    async def comment(self, request: Request) -> Response:
        student = request.path_params["student"]

        def change(store: ReviewStore, form: FormData) -> None:
            store.add_comment(student, _field(form, "text"), file=_field(form, "file") or None, line=_field(form, "line") or None,
                              check_id=_field(form, "check") or None, staff_only=_field(form, "visibility") == "staff",
                              author=_ta(request), version=_version(form))
        return await self._change(request, student, change, "comment")

    async def reviewed(self, request: Request) -> Response:
        student = request.path_params["student"]

        def change(store: ReviewStore, form: FormData) -> None:
            store.set_reviewed(student, _field(form, "reviewed") == "yes", author=_ta(request), version=_version(form))
        return await self._change(request, student, change, "reviewed")

    async def _change(self, request: Request, student: str, change: Callable[[ReviewStore, FormData], None],
                      saved: str) -> Response:
        back = f"/student/{_quote(student)}"
        store = self._store()
        try:
            change(store, await self._form(request))
            rewrite_student_files(store.book, self.config.out, student)
        except ReviewError as error:
            return self._failure(request, error, back)
        finally:
            store.close()
        return RedirectResponse(f"{back}?saved={saved}", status_code=303)

    async def similarity_page(self, request: Request) -> Response:
        store = self._store()
        try:
            if request.method == "POST":
                try:
                    form = await self._form(request)
                    store.decide_pair(_field(form, "part"), _field(form, "a"), _field(form, "b"), _field(form, "decision"),
                                      note=_field(form, "note"), author=_ta(request), version=_version(form))
                except ReviewError as error:
                    return self._failure(request, error, "/similarity")
                return RedirectResponse("/similarity?saved=1", status_code=303)
            return self._page("similarity.html.j2", request, pairs=pair_views(store), decisions=DECISIONS,
                              saved=request.query_params.get("saved", ""))
        finally:
            store.close()

    async def name_page(self, request: Request) -> Response:
        target = request.query_params.get("next", "/")
        target = target if target.startswith("/") and not target.startswith("//") else "/"
        if request.method == "POST":
            try:
                form = await self._form(request)
            except ReviewError as error:
                return self._failure(request, error, "/name")
            name = _field(form, "name").strip()[:_MAX_NAME]
            if not name:
                return self._failure(request, ReviewError("author_missing"), "/name")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(NAME_COOKIE, quote(name), httponly=True, samesite="strict", max_age=60 * 60 * 24 * 365)
            return response
        return self._page("name.html.j2", request, target=target)

    async def set_lang(self, request: Request) -> Response:
        try:
            form = await self._form(request)
        except ReviewError as error:
            return self._failure(request, error, "/")
        chosen = _field(form, "lang")
        back = _field(form, "back")
        response = RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)
        if chosen in LANGS:
            response.set_cookie(LANG_COOKIE, chosen, httponly=True, samesite="strict", max_age=60 * 60 * 24 * 365)
        return response

    async def class_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = self.config.out / name
        if name not in _CLASS_FILES or not path.is_file():
            lang = _lang(request, self.config)
            return _error_page(lang, 404, text(lang, "review.error.no_file", name=name))
        return FileResponse(path, filename=name if not name.endswith(".html") else None)

    async def student_file(self, request: Request) -> Response:
        student, name = request.path_params["student"], request.path_params["name"]
        store = self._store()
        try:
            known = student in store.students()
        finally:
            store.close()
        path = self.config.out / student / name
        if not known or name not in _STUDENT_FILES or not path.is_file():
            lang = _lang(request, self.config)
            return _error_page(lang, 404, text(lang, "review.error.no_file", name=name))
        return FileResponse(path)


def _stale_exports(store: ReviewStore, out: Path, files: list[str]) -> bool:
    """Whether points changed by hand after the class exports were last written (they show the old totals)."""
    changed = store.last_points_change()
    exports = [out / name for name in files if name in ("gradebook.csv", "canvas.csv", "moodle.csv")]
    if changed is None or not exports:
        return False
    written = min(path.stat().st_mtime for path in exports)
    return datetime.fromisoformat(changed).timestamp() > written


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _version(form: FormData) -> int | None:
    # Every form carries the version it was loaded at; a form without one is refused as stale rather than applied.
    try:
        return int(_field(form, "version"))
    except ValueError:
        return -1


def _ta(request: Request) -> str:
    from urllib.parse import unquote

    return unquote(request.cookies.get(NAME_COOKIE, ""))[:_MAX_NAME]

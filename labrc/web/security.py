"""The access token of ``labrc serve`` and the one gate between a request path and the data directory.

Security model (README "labrc serve"; issue 15):

* The server binds 127.0.0.1 by default. There, reading needs no token (the local user can read the files
  anyway) but the Host header must name the loopback (a web page elsewhere cannot reach it through DNS
  rebinding), and every state-changing request (the stop) needs the token.
* Any other address needs a token that exists before the start: ``[serve] token`` in labrc.toml, or the
  stored one (``labrc serve --new-token`` generates it, prints it once and keeps it with 0600 permissions in
  ``$XDG_CONFIG_HOME/labrc/serve.token``, default ``~/.config``: outside the data directory, so no request
  can ever read it). Without one the start is refused. There every request needs the token.
* A token travels in the ``X-Labrc-Token`` header (the page's fetches) or once as ``?token=`` on the first
  page, which sets an HttpOnly SameSite=Strict cookie. State-changing requests take the header only: a
  cookie alone never stops a run (another site's form cannot set a custom header).
* Paths: a run is named by its directory relative to the data directory; :func:`resolve_run_dir` refuses
  anything whose fully resolved path (``..``, encoded separators, symlinks) leaves the data directory or is
  not a run directory. Nothing but a run's ``run.h5`` is ever sent as a file, and no request writes one.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_ENV_DIR = "XDG_CONFIG_HOME"
TOKEN_FILE = "serve.token"
TOKEN_HEADER = "x-labrc-token"
TOKEN_COOKIE = "labrc_token"


class ServeError(ValueError):
    """``labrc serve`` cannot start as asked (one line naming the option or key to change)."""


def token_path() -> Path:
    base = os.environ.get(TOKEN_ENV_DIR) or str(Path.home() / ".config")
    return Path(base) / "labrc" / TOKEN_FILE


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for 0.0.0.0, :: and every other address or name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token_file(path: Path | None = None) -> str:
    """The stored token ("" when there is none); a file others can read is refused (it would not be secret)."""
    p = path or token_path()
    try:
        st = p.stat()
    except FileNotFoundError:
        return ""
    if st.st_mode & 0o077:
        raise ServeError(f"{p} is readable by others (mode {st.st_mode & 0o777:o}): chmod 600 {p}, "
                         "or delete it and run `labrc serve --new-token`")
    return p.read_text().strip()


def new_token(path: Path | None = None) -> str:
    """Generate a token and store it (0600, created that way: never readable by others even for an instant)."""
    p = path or token_path()
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    tmp = p.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(tmp, p)
    return token


def resolve_token(host: str, configured: str, regenerate: bool = False) -> tuple[str, str, bool]:
    """(token, where it comes from, generated now). Loopback: configured, else stored, else generated.
    Any other address: configured or stored, else :class:`ServeError` (refused at start-up)."""
    if regenerate:
        return new_token(), str(token_path()), True
    if configured:
        return configured, "labrc.toml [serve] token", False
    stored = read_token_file()
    if stored:
        return stored, str(token_path()), False
    if not is_loopback(host):
        raise ServeError(f"--host {host}: a non-local address needs an access token; set [serve] token in "
                         f"labrc.toml or run `labrc serve --new-token` once (stored 0600 in {token_path()}); "
                         "refusing to start without one")
    return new_token(), str(token_path()), True


def token_ok(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def resolve_run_dir(data_root: Path, ref: str) -> Path | None:
    """The run directory ``ref`` names under ``data_root`` (resolved), or None when it is not one: outside the
    data directory after resolving ``..`` and symlinks, absolute, containing NUL, or without a run.h5."""
    if not ref or "\x00" in ref or ref.startswith(("/", "\\")) or "\\" in ref:
        return None
    root = data_root.resolve()
    try:
        p = (root / ref).resolve()
    except (OSError, RuntimeError):
        return None
    if p == root or not p.is_relative_to(root):
        return None
    try:
        if not (p / "run.h5").is_file() or (p / "run.h5").is_symlink():
            return None
        if not (p / "run.h5").resolve().is_relative_to(root):
            return None
    except OSError:
        return None
    return p

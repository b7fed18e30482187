"""The address policy on the sockets a library opens by itself (smtplib for email, Apprise's HTTP clients): under
`guarded_connections`, every connect or send is judged on the address it actually goes to, after name resolution.

Owns the audit hook and the refusal it raises; `fetch.py` judges aiohttp's own sockets with the same refusal. No
HTTP here, and no aiohttp: a send that needs neither (the file outbox, email) does not import it (~0.2 s of CPU).
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.addresses import Networks, blocked_reason

if TYPE_CHECKING:
    from monitor.config import FetchConfig


class RefusedConnection(OSError):
    """The policy's refusal of a socket; an OSError, so a library (aiohttp included) moves on to the host's next
    address, then fails."""


# The policy in force for the code running in this context: set by `guarded_connections`, read by the audit
# hook. A context variable, not a global: Apprise runs its sends in worker threads with a copy of the caller's
# context, so they carry it, while the service's other threads (the fetch stage, SMTP) are not touched.
_GUARD: contextvars.ContextVar[_ConnectionGuard | None] = contextvars.ContextVar("connection_guard", default=None)
_GUARD_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})  # each: (socket, address)
_hook_lock = threading.Lock()
_hook_installed = False


@dataclass
class _ConnectionGuard:
    allow_private: bool
    networks: Networks
    refused: list[str] = field(default_factory=list)  # what was refused, for the error the caller raises


def _audit(event: str, args: tuple) -> None:
    """Python's audit hook (sys.addaudithook): called with the socket and the address it is about to
    connect or send to — after name resolution, so `localhost`, `2130706433` or a name whose DNS points
    at 127.0.0.1 all arrive here as the address itself."""
    if event not in _GUARD_EVENTS:
        return
    guard = _GUARD.get()
    if guard is None or len(args) < 2:
        return
    sock, address = args[0], args[1]
    family = getattr(sock, "family", None)
    if family == socket.AF_UNIX and not guard.allow_private:
        reason = f"{address!r} is a local socket"
    elif family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        why = blocked_reason(ip, guard.allow_private, guard.networks)
        reason = f"{ip} {why}" if why else None
    else:
        reason = None
    if reason:
        reason += " (set fetch.allow_private_networks to allow it)"
        guard.refused.append(reason)
        raise RefusedConnection(reason)  # an OSError: the library tries the next address, then fails


@contextlib.contextmanager
def guarded_connections(config: FetchConfig) -> Iterator[list[str]]:
    """Run a library's network calls under the fetch address policy: every socket connected (or datagram
    sent) in this context, its worker threads' copies included, is refused when the policy refuses the
    address it goes to. Yields the list of refusals, so the caller can say why a send failed."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:  # an audit hook cannot be removed: it is installed once and idles outside
            sys.addaudithook(_audit)
            _hook_installed = True
    guard = _ConnectionGuard(config.allow_private_networks,
                             tuple(ipaddress.ip_network(n) for n in config.allow_networks))
    token = _GUARD.set(guard)
    try:
        yield guard.refused
    finally:
        _GUARD.reset(token)

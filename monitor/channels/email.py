"""The email channel: one multipart (text + HTML) message over SMTP, with STARTTLS, SSL or plain.

One SMTP session per round carries its messages; each send returns once the server accepted the DATA,
so acceptance is recorded before QUIT. Every socket wait is capped by the channel's timeout and the
round's deadline (a watchdog closes the socket then). Answers are kept per recipient: a 550 for one
address is that recipient's failure. The SMTP host is under the address policy: the session connects
inside the fetch stage's connection guard, which judges each address actually connected (after DNS),
while TLS verifies the configured name; `smtp_host_problem` is the same judgement for start-up.
The Message-ID derives from our message id and is kept with the delivery, so a retry is the same mail;
machine-mail headers keep auto-responders quiet; follow-up digests thread under their alerts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from monitor.addresses import IP, blocked_reason, host_address
from monitor.config import EmailChannel, FetchConfig
from monitor.delivery import smtp_permanent
from monitor.digest import one_line
from monitor.errors import BlockedAddressError, DeliveryError
from monitor.guard import guarded_connections
from monitor.models import Delivery

QUIT_TIMEOUT = 5.0  # the goodbye is a courtesy: the messages were accepted already
ALONE_BUDGET = 120.0  # a send outside a delivery round (tools, tests) gets the default round budget


class BudgetSpent(TimeoutError):
    """The round's time for this channel ran out before the next message."""


def sender_domain(sender: str) -> str:
    """The domain of the From address: Message-IDs and the List-Id live under it."""
    address = parseaddr(sender)[1]
    host = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    return host if re.fullmatch(r"[a-z0-9.-]+", host or "-") else "news-monitor.invalid"


def message_id_header(message_id: str, domain: str) -> str:
    """Our message id as a Message-ID, stable across retries, so a resent mail is the same mail and a later
    digest can name it in In-Reply-To."""
    return f"<{message_id}.news-monitor@{domain}>"


def compose(channel: EmailChannel, delivery: Delivery) -> EmailMessage:
    domain = sender_domain(channel.from_)
    mail = EmailMessage()
    mail["Subject"] = one_line(delivery.subject, 250)  # feed text never reaches a header raw
    mail["From"] = channel.from_
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = delivery.ref or message_id_header(delivery.message_id, domain)
    # machine mail: vacation and out-of-office responders must not answer it (RFC 3834; Exchange's own header)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["Precedence"] = "bulk"  # what older vacation programs look for
    mail["List-Id"] = f"news-monitor <news-monitor.{domain}>"
    # a digest's follow-ups thread under the alerts (or messages) that first announced their stories
    replies = [message_id_header(m, domain) for m in delivery.data.get("replies_to", [])
               if re.fullmatch(r"[0-9a-zA-Z_-]+", str(m))]
    if replies:
        mail["In-Reply-To"] = replies[0]
        mail["References"] = " ".join(replies[:20])
    mail.set_content(delivery.text)
    mail.add_alternative(delivery.html, subtype="html")
    return mail


def smtp_policy(channel: EmailChannel, fetch: FetchConfig) -> FetchConfig:
    """The address policy for this channel's SMTP host: fetch's, plus the private ranges the channel itself
    admits (`allow_networks`: a relay on loopback or the LAN, without opening feeds to it)."""
    return fetch.model_copy(update={"allow_networks": [*fetch.allow_networks, *channel.allow_networks]})


def _refusal(host: str, ip: IP, reason: str) -> str:
    shown = host if host == str(ip) else f"{host} means {ip}, which"
    return (f"SMTP host {shown} {reason} (allow this relay alone with the channel's allow_networks: "
            f"[{ipaddress.ip_network(ip)}], or set fetch.allow_private_networks)")


def smtp_host_problem(channel: EmailChannel, fetch: FetchConfig) -> str | None:
    """Why the policy refuses every address of the SMTP host, or None (also when the name does not resolve
    now: the send says so then). An IP literal or a `localhost` name is judged without DNS."""
    policy = smtp_policy(channel, fetch)
    host = channel.host.strip().strip("[]")
    ip = host_address(host.lower())
    try:
        found = [ip] if ip is not None else list(dict.fromkeys(
            ipaddress.ip_address(info[4][0].split("%")[0])
            for info in socket.getaddrinfo(host, channel.port, type=socket.SOCK_STREAM)))
    except (OSError, UnicodeError):
        return None
    networks = tuple(ipaddress.ip_network(n) for n in policy.allow_networks)
    reasons = [blocked_reason(a, policy.allow_private_networks, networks) for a in found]
    return _refusal(host.rstrip("."), found[0], reasons[0]) if found and all(reasons) else None


class EmailSender:
    def __init__(self, channel: EmailChannel, fetch: FetchConfig):
        self.channel = channel
        self.fetch = fetch
        self.policy = smtp_policy(channel, fetch)
        self.name = channel.name
        self._smtp: smtplib.SMTP | None = None
        self._watchdog: threading.Timer | None = None
        self._aborted = False  # the watchdog ended the session at the round's deadline

    def ref_for(self, delivery: Delivery) -> str:
        return message_id_header(delivery.message_id, sender_domain(self.channel.from_))

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        c = self.channel
        deadline = deadline if deadline is not None else time.monotonic() + ALONE_BUDGET
        where = {"channel": "email", "target": f"{c.host}:{c.port}"}
        # recipients that took this message before, or refused it for good, are not sent it again
        to = [a for a in c.to if delivery.recipients.get(a, {}).get("status") not in ("sent", "dead")]
        if not to:
            return {}
        try:
            smtp = self._session(deadline)
            smtp.sock.settimeout(self._wait(deadline))
            refused = smtp.send_message(compose(c, delivery), to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused; the session is still fine
            refused = exc.recipients
        except BlockedAddressError as exc:  # the config's to fix: nothing reaches this host until then
            self._drop()
            raise DeliveryError(exc.message, permanent=True, channel_down=True, **where) from None
        except smtplib.SMTPDataError as exc:  # this message refused (too large, content): the next may pass
            self._reset()
            raise DeliveryError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                                permanent=smtp_permanent(exc.smtp_code), **where) from None
        except smtplib.SMTPNotSupportedError as exc:  # no AUTH (or STARTTLS) where the config needs it: the config's
            self._drop()
            raise DeliveryError(f"SMTPNotSupportedError: {exc}", permanent=True, channel_down=True, **where) from None
        except smtplib.SMTPResponseException as exc:  # greeting, login or sender refused: the channel's
            self._drop()
            raise DeliveryError(f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}",
                                permanent=smtp_permanent(exc.smtp_code), channel_down=True, **where) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            self._drop()
            # smtplib reports a read timeout as SMTPServerDisconnected raised while handling the TimeoutError
            timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
            # the socket's timeout is the budget's rest when that is shorter: it may fire before the watchdog
            spent = self._aborted or isinstance(exc, BudgetSpent) or (timed_out and time.monotonic() >= deadline)
            reason = ("the round's time budget ran out" if spent
                      else f"no answer within {c.timeout:g}s" if timed_out else str(exc) or "closed")
            raise DeliveryError(f"{type(exc).__name__}: {reason}", channel_down=True, **where) from None
        return {addr: DeliveryError(f"refused: {refused[addr][0]} {_text(refused[addr][1])}",
                                    permanent=smtp_permanent(refused[addr][0]), **where) if addr in refused else None
                for addr in to}

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._cancel_watchdog()
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.sock.settimeout(QUIT_TIMEOUT)
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    # -- the session ------------------------------------------------------------------------------

    def _session(self, deadline: float) -> smtplib.SMTP:
        """The round's SMTP session, opened on its first message; the watchdog ends it at `deadline`."""
        if self._smtp is not None:
            return self._smtp
        c = self.channel
        timeout = self._wait(deadline)
        if c.tls == "ssl":
            smtp = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(timeout=timeout)
        self._smtp = smtp
        self._aborted = False
        self._watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), self._abort)
        self._watchdog.daemon = True
        self._watchdog.start()
        # smtplib checks the certificate against `_host`, which only its constructor sets (and that would
        # connect at once, before the watchdog runs): without it STARTTLS and SSL had no name to verify
        smtp._host = c.host
        with guarded_connections(self.policy) as refused:  # every address smtplib tries is judged
            try:
                smtp.connect(c.host, c.port)
            except OSError:
                # refused by the policy, unless an address it allowed failed for its own reason
                problem = smtp_host_problem(c, self.fetch) if refused else None
                if problem:
                    raise BlockedAddressError(problem) from None
                raise
        if c.tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if c.user:
            smtp.login(c.user, c.password or "")
        return smtp

    def _wait(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BudgetSpent("the round's time budget for this channel is spent")
        return min(self.channel.timeout, remaining)

    def _abort(self) -> None:
        """The round's deadline passed mid-conversation: wake whatever waits on the socket."""
        self._aborted = True
        smtp = self._smtp
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._cancel_watchdog()
        if smtp is not None:
            smtp.close()

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None


def _text(reply: bytes | str) -> str:
    return one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply), 200)

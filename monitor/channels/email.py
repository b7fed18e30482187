"""The email channel: one multipart (text + HTML) message over SMTP, with STARTTLS, SSL or plain.

The Message-ID derives from our message id under the sender's domain, so a retried send is recognisable as the
same mail; machine-mail headers keep auto-responders quiet, and follow-up digests thread under their alerts.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from monitor.config import EmailChannel
from monitor.digest import one_line
from monitor.errors import DeliveryError
from monitor.models import Delivery


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
    mail["Message-ID"] = message_id_header(delivery.message_id, domain)
    # machine mail: vacation and out-of-office responders must not answer it (RFC 3834; Exchange's own header)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
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


class EmailSender:
    def __init__(self, channel: EmailChannel):
        self.channel = channel
        self.name = channel.name

    def send(self, delivery: Delivery) -> None:
        c = self.channel
        try:
            if c.tls == "ssl":
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            with smtp:
                if c.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if c.user:
                    smtp.login(c.user, c.password or "")
                smtp.send_message(compose(c, delivery))
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", channel="email", target=f"{c.host}:{c.port}") from None

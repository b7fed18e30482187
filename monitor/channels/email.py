"""The email channel: one multipart (text + HTML) message over SMTP, with STARTTLS, SSL or plain.

The Message-ID derives from our message id, so a retried send is recognisable as the same mail.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from monitor.config import EmailChannel
from monitor.digest import one_line
from monitor.errors import DeliveryError
from monitor.models import Delivery


def compose(channel: EmailChannel, delivery: Delivery) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = one_line(delivery.subject, 250)  # feed text never reaches a header raw
    mail["From"] = channel.from_
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{delivery.message_id}.{delivery.kind}@news-monitor>"
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

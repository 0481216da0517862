"""E-mail over SMTP: plain, STARTTLS or SSL, with login; UTF-8 subject and body.

Each notice is one message with a plain-text body and an HTML alternative.  Its ``Message-ID``
is derived from the notice id, so a re-sent notice carries the same id and a mail system (or a
person) can tell it is a repeat; ``X-Monitor-Alert-Id`` carries the alert id.

```toml
[duty-mail]
type = "email"
host = "smtp.example.gov.cn"
security = "starttls"              # "plain" (port 25), "starttls" (587) or "ssl" (465)
username = "monitor@example.gov.cn"
password = "${SMTP_PASSWORD}"
from = "舆情监测 <monitor@example.gov.cn>"
to = ["duty@example.gov.cn"]
```
"""
from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, parseaddr
from typing import Any

from alerts import format as fmt
from alerts.channels import (BaseChannel, DeliveryResult, choice, flag, integer, secret, text,
                             text_list)
from alerts.message import AlertMessage
from alerts.secrets import Secret, scrub
from monitor.errors import ConfigError
from monitor.tomlfile import Table

PORTS = {"plain": 25, "starttls": 587, "ssl": 465}


def _code_says(code: int, said: bytes | str) -> str:
    text_ = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{code} {' '.join(text_.split())[:200]}"


class EmailChannel(BaseChannel):
    """SMTP delivery to a fixed list of addresses."""

    type = "email"
    secret_keys = frozenset({"password"})

    def configure(self, table: Table) -> None:
        self.host = text(table, "host", required=True)
        self.security = choice(table, "security", "starttls", tuple(PORTS))
        self.port = integer(table, "port", PORTS[self.security], low=1, high=65535)
        self.username = text(table, "username")
        self.password: Secret | None = secret(table, "password")
        if self.username and self.password is None:
            raise ConfigError('a username needs a password: password = "${SMTP_PASSWORD}"',
                              path=table.path, key=table._key("password"))
        insecure = flag(table, "allow_plain_auth", False)
        if self.username and self.security == "plain" and not insecure:
            raise ConfigError('logging in over security = "plain" sends the password in clear; '
                              'use "starttls" or "ssl" (or allow_plain_auth = true on a '
                              "trusted relay)", path=table.path, key=table._key("security"))
        self.sender = text(table, "from", required=True)
        if "@" not in parseaddr(self.sender)[1]:
            raise ConfigError(f"not an e-mail address: {self.sender!r}", path=table.path,
                              key=table._key("from"))
        self.to = text_list(table, "to", required=True)
        for address in self.to:
            if "@" not in parseaddr(address)[1]:
                raise ConfigError(f"not an e-mail address: {address!r}", path=table.path,
                                  key=table._key("to"))
        self.subject_prefix = text(table, "subject_prefix", "") or ""
        self.ca_file = text(table, "ca_file")
        self.verify_tls = flag(table, "verify_tls", True)

    # -- the message ----------------------------------------------------------------------------

    def compose(self, message: AlertMessage) -> EmailMessage:
        """The e-mail for ``message``: UTF-8 subject, plain text and an HTML alternative."""
        notice = fmt.build(message)
        mail = EmailMessage()
        subject = fmt.clean(f"{self.subject_prefix}{notice.title}")
        mail["Subject"] = subject[:200]
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "monitor.local"
        digest = hashlib.sha256(message.notice_id.encode("utf-8")).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@{domain}>"
        mail["X-Monitor-Alert-Id"] = fmt.clean(message.alert_id)
        mail["X-Monitor-Notice-Id"] = fmt.clean(message.notice_id)
        mail.set_content(fmt.to_text(notice), charset="utf-8")
        mail.add_alternative(fmt.to_html(notice), subtype="html", charset="utf-8")
        return mail

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- send -----------------------------------------------------------------------------------

    def send(self, message: AlertMessage) -> DeliveryResult:
        """Hand the notice to the SMTP server; every failure becomes a DeliveryResult."""
        try:
            mail = self.compose(message)
        except Exception as exc:  # noqa: BLE001
            return DeliveryResult.failed(f"cannot compose the e-mail: {type(exc).__name__}: "
                                         f"{exc}", retryable=False)
        where = f"SMTP {self.host}:{self.port}"
        try:
            refused = self._deliver(mail)
        except smtplib.SMTPAuthenticationError as exc:
            return self._failed(f"{where}: login refused ({_code_says(exc.smtp_code, exc.smtp_error)})",
                                retryable=False)
        except smtplib.SMTPNotSupportedError as exc:
            return self._failed(f"{where}: the server does not offer {exc} — check security",
                                retryable=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            said = "; ".join(f"{a} ({_code_says(c, m)})" for a, (c, m) in exc.recipients.items())
            return self._failed(f"{where}: every recipient refused: {said}",
                                retryable=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, …
            return self._failed(f"{where}: {type(exc).__name__} "
                                f"({_code_says(exc.smtp_code, exc.smtp_error)})",
                                retryable=not 500 <= exc.smtp_code < 600)
        except ssl.SSLCertVerificationError as exc:
            return self._failed(f"{where}: TLS certificate not trusted ({exc.verify_message});"
                                " set ca_file", retryable=False)
        except (TimeoutError, socket.timeout):
            return self._failed(f"{where}: no answer within {self.timeout:g} s", retryable=True)
        except smtplib.SMTPServerDisconnected as exc:  # smtplib wraps a read timeout in this
            said = "no answer within {:g} s".format(self.timeout) if "timed out" in str(exc) \
                else f"disconnected ({exc})"
            return self._failed(f"{where}: {said}", retryable=True)
        except ConnectionRefusedError:
            return self._failed(f"{where}: connection refused", retryable=True)
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(f"{where}: {type(exc).__name__} {exc}", retryable=True)
        if refused:
            said = "; ".join(f"{a} ({_code_says(c, m)})" for a, (c, m) in refused.items())
            return DeliveryResult.delivered(f"sent to {len(self.to) - len(refused)} of "
                                            f"{len(self.to)}; refused: {said}")
        return DeliveryResult.delivered(f"sent to {len(self.to)} recipient(s)")

    def _failed(self, detail: str, *, retryable: bool) -> DeliveryResult:
        return DeliveryResult.failed(scrub(detail, self.secrets()), retryable=retryable)

    def _deliver(self, mail: EmailMessage) -> dict:
        deadline = time.monotonic() + self.timeout

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=left(),
                                                  context=self._context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=left())
        try:
            smtp.sock.settimeout(left())
            smtp.ehlo()
            if self.security == "starttls":
                smtp.sock.settimeout(left())
                smtp.starttls(context=self._context())
                smtp.sock.settimeout(left())
                smtp.ehlo()
            if self.username:
                smtp.sock.settimeout(left())
                smtp.login(self.username, self.password.reveal())
            smtp.sock.settimeout(left())
            addresses = [a for _, a in getaddresses(self.to)]
            refused = smtp.send_message(mail, from_addr=parseaddr(self.sender)[1],
                                        to_addrs=addresses)
            try:
                smtp.sock.settimeout(left())
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the message was accepted; a lost goodbye changes nothing
            return refused
        finally:
            smtp.close()

    def settings(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "security": self.security,
                "login": bool(self.username), "to": len(self.to)}

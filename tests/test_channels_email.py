"""E-mail against a real aiosmtpd server on loopback: plain, STARTTLS and SSL, with login."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import ssl
from pathlib import Path

import pytest

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extra")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from alerts.channels.email import EmailChannel  # noqa: E402
from alerts.secrets import Secret  # noqa: E402
from monitor.errors import ConfigError  # noqa: E402
from test_channels_format import message  # noqa: E402

LOGIN, PASSWORD = "monitor", "pw-7f3a9c"


# -- a certificate authority and a server certificate for 127.0.0.1 ---------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A throw-away CA and a server certificate it signed (SAN 127.0.0.1 and localhost)."""
    directory = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("monitor test CA"))
          .issuer_name(_name("monitor test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem",
             "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def server_context(certs) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs["cert"], certs["key"])
    return context


# -- the SMTP server ---------------------------------------------------------------------------

class Handler:
    """Keeps what arrived; refuses one address and can answer 451 at DATA."""

    def __init__(self):
        self.messages: list[dict] = []
        self.data_answer = "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.endswith("@refused.example.cn"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_answer.startswith("250"):
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "content": envelope.original_content or envelope.content,
                                  "tls": server.transport.get_extra_info("ssl_object")
                                  is not None,
                                  "login": getattr(session, "login_data", None)})
        return self.data_answer


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == LOGIN.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(certs):
    """Start servers on demand: ``smtp("plain" | "starttls" | "ssl")`` → (handler, port)."""
    started = []

    def start(mode: str):
        handler = Handler()
        kwargs: dict = {}
        if mode == "starttls":
            kwargs = dict(tls_context=server_context(certs), require_starttls=True,
                          authenticator=authenticator, auth_required=True,
                          auth_require_tls=True)
        elif mode == "ssl":
            # the whole connection is TLS: aiosmtpd only counts STARTTLS as "TLS" for AUTH
            kwargs = dict(ssl_context=server_context(certs), authenticator=authenticator,
                          auth_required=True, auth_require_tls=False)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return handler, port

    yield start
    for controller in started:
        controller.stop()


def channel(port: int, security: str, certs=None, **extra) -> EmailChannel:
    table = {"host": "127.0.0.1", "port": port, "security": security, "timeout": 2,
             "from": "舆情监测 <monitor@example.cn>", "to": ["duty@example.cn"], **extra}
    if certs is not None:
        table.setdefault("ca_file", str(certs["ca"]))
    if security != "plain":
        table.setdefault("username", LOGIN)
        table.setdefault("password", Secret(PASSWORD))
    return EmailChannel("duty-mail", table)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


# -- deliveries ----------------------------------------------------------------------------------

def test_plain_smtp_delivers_utf8_subject_text_and_html(smtp):
    handler, port = smtp("plain")
    result = channel(port, "plain").send(message())
    assert result.ok and result.detail == "sent to 1 recipient(s)"
    (got,) = handler.messages
    assert got["from"] == "monitor@example.cn" and got["to"] == ["duty@example.cn"]
    assert got["tls"] is False
    mail = parse(got["content"])
    assert mail["Subject"] == "【严重】校园围墙倒塌舆情升温"
    assert mail["From"].addresses[0].display_name == "舆情监测"
    assert mail["X-Monitor-Alert-Id"] == "al-0001"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "原因：2 小时内 12 篇相关报道，超过阈值 10" in plain
    assert "告警编号：al-0001" in plain
    assert "<h3>【严重】校园围墙倒塌舆情升温</h3>" in html


def test_a_resend_carries_the_same_message_id(smtp):
    handler, port = smtp("plain")
    mailer = channel(port, "plain")
    assert mailer.send(message()).ok and mailer.send(message()).ok
    assert mailer.send(message(kind="resolved")).ok
    ids = [parse(m["content"])["Message-ID"] for m in handler.messages]
    assert ids[0] == ids[1] != ids[2] and ids[0].endswith("@example.cn>")


def test_starttls_with_login(smtp, certs):
    handler, port = smtp("starttls")
    result = channel(port, "starttls", certs).send(message())
    assert result.ok, result.detail
    assert handler.messages[0]["tls"] is True


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_ssl_with_login(smtp, certs):
    handler, port = smtp("ssl")
    result = channel(port, "ssl", certs).send(message())
    assert result.ok, result.detail
    assert handler.messages[0]["tls"] is True


# -- failures --------------------------------------------------------------------------------------

def test_wrong_password_is_not_retryable_and_not_shown(smtp, certs):
    handler, port = smtp("starttls")
    result = channel(port, "starttls", certs, password=Secret("wrong-pw-123")).send(message())
    assert (result.ok, result.retryable) == (False, False)
    assert "login refused (535" in result.detail and "wrong-pw-123" not in result.detail
    assert handler.messages == []


def test_untrusted_certificate_is_not_retryable(smtp, certs):
    _, port = smtp("starttls")
    result = channel(port, "starttls").send(message())  # no ca_file: the CA is unknown
    assert (result.ok, result.retryable) == (False, False)
    assert "TLS certificate not trusted" in result.detail


def test_server_without_starttls_is_a_configuration_problem(smtp, certs):
    _, port = smtp("plain")
    result = channel(port, "starttls", certs).send(message())
    assert (result.ok, result.retryable) == (False, False)
    assert "STARTTLS" in result.detail


def test_some_recipients_refused(smtp):
    handler, port = smtp("plain")
    mixed = channel(port, "plain", to=["duty@example.cn", "gone@refused.example.cn"])
    result = mixed.send(message())
    assert result.ok and "sent to 1 of 2; refused: gone@refused.example.cn (550" in result.detail
    everyone = channel(port, "plain", to=["gone@refused.example.cn"]).send(message())
    assert (everyone.ok, everyone.retryable) == (False, False)
    assert len(handler.messages) == 1


def test_temporary_refusal_is_retryable(smtp):
    handler, port = smtp("plain")
    handler.data_answer = "451 4.3.0 try again later"
    result = channel(port, "plain").send(message())
    assert (result.ok, result.retryable) == (False, True) and "451" in result.detail


def test_server_down_or_silent_is_retryable():
    down = channel(free_port(), "plain", timeout=0.5).send(message())
    assert (down.ok, down.retryable) == (False, True) and "connection refused" in down.detail
    with socket.socket() as silent:  # accepts connections (backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        result = channel(silent.getsockname()[1], "plain", timeout=0.5).send(message())
    assert (result.ok, result.retryable) == (False, True)
    assert "no answer within 0.5 s" in result.detail


def test_configuration_problems_are_config_errors():
    base = {"host": "h", "from": "a@b.cn", "to": ["c@d.cn"]}
    with pytest.raises(ConfigError, match="sends the password in clear"):
        EmailChannel("m", {**base, "security": "plain", "username": "u",
                           "password": Secret("p")})
    with pytest.raises(ConfigError, match="needs a password"):
        EmailChannel("m", {**base, "username": "u"})
    with pytest.raises(ConfigError, match="not an e-mail address"):
        EmailChannel("m", {**base, "to": ["nobody"]})
    with pytest.raises(ConfigError, match=r"\[m.to\]: missing or empty"):
        EmailChannel("m", {**base, "to": []})
    with pytest.raises(ConfigError, match="must be one of plain, starttls, ssl"):
        EmailChannel("m", {**base, "security": "tls"})
    assert EmailChannel("m", {**base, "security": "ssl"}).port == 465

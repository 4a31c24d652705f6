"""The adapters dispatch sends through: SMTP for e-mail, a generic HTTP gateway for SMS.

Each send either returns (the server accepted the message) or raises `SendError` saying
what is known about the message:
- temporary: certainly not accepted, may be retried (SMTP 4xx, no connection);
- permanent: refused for good (SMTP 5xx such as 550 "no such user", gateway 4xx);
- unknown: it may or may not have gone out (connection lost after the message was
  handed over). Dispatch never retries those: at-most-once.
Reasons name the kind of failure and the status code, never an address or number.
"""

from __future__ import annotations

import email.policy
import re
import smtplib
import ssl
import tomllib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from jinja2 import Environment, PackageLoader, select_autoescape


class SendError(Exception):
    def __init__(self, kind: str, reason: str):
        assert kind in ("temporary", "permanent", "unknown")
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def _why(text: str, exc: BaseException) -> str:
    return f"{text} ({type(exc).__name__})"


def _smtp_kind(code: int) -> str:
    return "temporary" if 400 <= code < 500 else "permanent"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    security: str = "none"  # none | starttls | tls
    user: str = ""
    password: str = ""
    timeout: float = 30.0


class SmtpMailer:
    """Sends one message per connection, step by step, so a failure before the message
    body was handed over (certainly not sent) is told apart from one after it (unknown)."""

    def __init__(self, config: SmtpConfig):
        self.config = config

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout)
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        if c.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError("temporary", _why("geen verbinding met de SMTP-server", exc)) from exc
        try:
            self._envelope(smtp, message)
            self._data(smtp, message)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _envelope(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        """EHLO, login, MAIL FROM, RCPT TO, DATA: nothing is sent until DATA's 354."""
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.config.user:
                smtp.login(self.config.user, self.config.password)
            code, _ = smtp.mail(str(message["From"]))
            if code != 250:
                raise SendError(_smtp_kind(code), f"SMTP {code} op MAIL FROM")
            code, _ = smtp.rcpt(str(message["To"]))
            if code not in (250, 251):
                raise SendError(_smtp_kind(code), f"SMTP {code} op RCPT TO")
            code, _ = smtp.docmd("DATA")
            if code != 354:
                raise SendError(_smtp_kind(code), f"SMTP {code} op DATA")
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError("temporary", f"SMTP-login geweigerd ({exc.smtp_code})") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError("temporary", _why("SMTP-verbinding verbroken", exc)) from exc

    @staticmethod
    def _data(smtp: smtplib.SMTP, message: EmailMessage) -> None:
        body = message.as_bytes(policy=email.policy.SMTP)
        body = re.sub(rb"(?m)^\.", b"..", body)  # dot-stuffing (RFC 5321 4.5.2)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        try:
            smtp.send(body + b".\r\n")
            code, _ = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            # The message may have been taken: never send it again.
            raise SendError("unknown", _why("verbinding verbroken na het bericht", exc)) from exc
        if code != 250:
            raise SendError(_smtp_kind(code), f"SMTP {code} na het bericht")


class SmsGateway:
    """A generic JSON gateway: POST {"to": number, "text": text}; 2xx means accepted.

    An `Idempotency-Key` header (invitation id and kind) lets a gateway that supports it
    drop a duplicate; dispatch itself never posts the same message twice."""

    TEMPORARY = frozenset({408, 425, 429, 502, 503, 504})

    def __init__(self, url: str, token: str = "", timeout: float = 15.0):
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, to: str, text: str, key: str) -> None:
        headers = {"Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            reply = httpx.post(
                self.url, json={"to": to, "text": text}, headers=headers, timeout=self.timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise SendError("temporary", _why("geen verbinding met de SMS-gateway", exc)) from exc
        except httpx.HTTPError as exc:
            raise SendError("unknown", _why("SMS-gateway gaf geen antwoord", exc)) from exc
        if 200 <= reply.status_code < 300:
            return
        code = reply.status_code
        if code in self.TEMPORARY:
            raise SendError("temporary", f"SMS-gateway {code}")
        if 400 <= code < 500:
            raise SendError("permanent", f"SMS-gateway {code}")
        raise SendError("unknown", f"SMS-gateway {code}")


# -- texts -------------------------------------------------------------------------------------

_MONTHS = {
    "nld": "januari februari maart april mei juni juli augustus september oktober november "
    "december",
    "eng": "January February March April May June July August September October November December",
}


def _date(moment: datetime, lang: str) -> str:
    local = moment.astimezone(ZoneInfo("Europe/Amsterdam"))
    return f"{local.day} {_MONTHS[lang].split()[local.month - 1]} {local.year}"


@dataclass(frozen=True)
class Links:
    questionnaire: str
    opt_out: str


class Texts:
    """The e-mail and SMS texts from a TOML file (shipped: consumers/dispatch_texts.toml)."""

    def __init__(self, path: str | Path | None = None, organisatie: str | None = None):
        if path:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        else:
            shipped = resources.files("consumers").joinpath("dispatch_texts.toml")
            raw = tomllib.loads(shipped.read_text("utf-8"))
        self.organisatie = organisatie or raw.get("organisatie", "de gemeente")
        self.lang: dict[str, dict[str, Any]] = {k: raw[k] for k in ("nld", "eng") if k in raw}
        if "nld" not in self.lang:
            raise ValueError("dispatch texts: the [nld] table is required")
        self._html = Environment(
            loader=PackageLoader("consumers", "templates"), autoescape=select_autoescape(["html"])
        ).get_template("dispatch_email.html")

    def _pick(self, taal: str | None) -> tuple[str, dict[str, Any]]:
        lang = "eng" if taal == "eng" and "eng" in self.lang else "nld"
        return lang, self.lang[lang]

    def _values(self, lang: str, dienst: str, links: Links, expires: datetime) -> dict[str, str]:
        return {
            "organisatie": self.organisatie,
            "dienst": dienst,
            "link": links.questionnaire,
            "afmelden": links.opt_out,
            "verloopt": _date(expires, lang),
        }

    def email(
        self,
        *,
        sender: str,
        to: str,
        taal: str | None,
        dienst: str,
        links: Links,
        expires: datetime,
        reminder: bool,
        message_key: str,
    ) -> EmailMessage:
        lang, t = self._pick(taal)
        v = self._values(lang, dienst, links, expires)
        subject = t["herinnering_onderwerp" if reminder else "onderwerp"].format(**v)
        tekst = [p.format(**v) for p in t["tekst"]]
        verloopt = t["verloopt_tekst"].format(**v)
        groet = t["groet"].format(**v)
        plain = "\n\n".join(
            [
                t["aanhef"],
                *tekst,
                f"{t['knop']}: {links.questionnaire}",
                verloopt,
                f"{t['afmelden_tekst']} {t['afmelden_link']}: {links.opt_out}",
                groet,
            ]
        )
        html = self._html.render(
            lang="en" if lang == "eng" else "nl",
            subject=subject,
            aanhef=t["aanhef"],
            tekst=tekst,
            link=links.questionnaire,
            knop=t["knop"],
            verloopt_tekst=verloopt,
            afmelden_tekst=t["afmelden_tekst"],
            afmelden_link=t["afmelden_link"],
            afmelden=links.opt_out,
            groet=groet.split("\n"),
        )
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        # The same id for every attempt at this message: mail systems can spot a duplicate.
        domain = sender.rpartition("@")[2].strip("> ") or "klantsignaal"
        message["Message-ID"] = f"<{message_key}@{domain}>"
        message["List-Unsubscribe"] = f"<{links.opt_out}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(plain)
        message.add_alternative(html, subtype="html")
        return message

    def sms(
        self, *, taal: str | None, dienst: str, links: Links, expires: datetime, reminder: bool
    ) -> str:
        lang, t = self._pick(taal)
        return t["herinnering_sms" if reminder else "sms"].format(
            **self._values(lang, dienst, links, expires)
        )

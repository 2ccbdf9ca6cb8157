"""reconciler.providers.http.auth: the credential header, and masking every form of a secret.

`SecretAuth` sets one credential header and never shows it in a repr; `make_redactor` builds
the one function that masks a secret in any spelling an answer may quote it in (escaped,
percent-encoded, base64). commands.md "Credentials": secrets never reach output.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import requests
from pydantic import SecretStr

__all__ = [
    "MASK",
    "SECRET_HEADERS",
    "SecretAuth",
    "api_key_auth",
    "basic_auth",
    "bearer_auth",
    "make_redactor",
    "mask_headers",
    "secret_forms",
]

MASK: Final = "***"


def _identity(text: str) -> str:
    return text


def _char_pattern(char: str) -> str:
    """Every way one character of a secret may be written in an answer that quotes it.

    As is; percent-encoded (`%2F`); JSON- or Python-escaped (`\\u002f`, `\\x2f`, `\\/`, with
    any number of backslashes, since a repr of an escaped string doubles them); an HTML
    character reference (`&#47;`, `&#x2f;`); `+` for a space. Letter case is left to the
    caller's IGNORECASE: hex digits and the raw key alike.
    """
    code = ord(char)
    alternatives = [re.escape(char), "".join(f"%{byte:02x}" for byte in char.encode())]
    if code < 0x10000:
        alternatives.append(rf"\\+u{code:04x}")
    if code < 0x100:
        alternatives.append(rf"\\+x{code:02x}")
    alternatives += [f"&#0*{code};", f"&#x0*{code:x};"]
    if char == "/":
        alternatives.append(r"\\+/")
    if char == " ":
        alternatives.append(r"\+")
    return "(?:" + "|".join(alternatives) + ")"


def _base64_forms(value: str) -> set[str]:
    """The base64 of a value as a server may re-encode it: standard and URL-safe, no padding."""
    raw = value.encode()
    return {
        base64.b64encode(raw).decode("ascii").rstrip("="),
        base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }


def secret_forms(value: str) -> set[str]:
    """Every form of one secret that must never be printed, as plain strings.

    The value itself; if it is base64 (a `Basic` token), the same without padding and in
    the URL-safe alphabet; and the value's own base64, standard and URL-safe. Escaped and
    percent-encoded spellings of each are matched by `make_redactor`, not listed here.
    """
    if not value:
        return set()
    forms = {value, value.rstrip("="), value.rstrip("=").replace("+", "-").replace("/", "_")}
    forms |= _base64_forms(value)
    return {form for form in forms if form}


def make_redactor(values: Iterable[str]) -> Callable[[str], str]:
    """Return the one function that masks every form of every secret value in a text.

    Forms: see `secret_forms`; each is matched character by character in any spelling of
    `_char_pattern` (so `s3cr%33t`, `s3cr\\u0033t` and `S3CR3T` are all caught), longest
    first, so a `Basic` token is masked whole rather than around the key inside it.
    """
    forms = sorted({form for value in values for form in secret_forms(value)}, key=len)
    if not forms:
        return _identity
    pattern = re.compile(
        "|".join("".join(_char_pattern(ch) for ch in form) for form in reversed(forms)),
        re.IGNORECASE,
    )

    def redact(text: str) -> str:
        return pattern.sub(MASK, text)

    return redact


class SecretAuth(requests.auth.AuthBase):
    """Sets one credential header (`Authorization: Basic ...`, `x-api-key: ...`).

    The credential never shows in a repr; `redact` masks it, and every value it encodes,
    in any of their forms (`make_redactor`), in any text that quotes a request or an answer.
    """

    def __init__(
        self,
        credential: SecretStr,
        *,
        header: str = "Authorization",
        scheme: str = "",
        secrets: Iterable[SecretStr] = (),
    ) -> None:
        self.header = header
        self.scheme = scheme
        self._credential = credential
        #: Every value that must never be printed: the header credential and what it encodes.
        self.secrets: tuple[SecretStr, ...] = (credential, *secrets)
        self._redact = make_redactor(s.get_secret_value() for s in self.secrets)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        value = self._credential.get_secret_value()
        request.headers[self.header] = f"{self.scheme} {value}" if self.scheme else value
        return request

    def __repr__(self) -> str:
        return f"SecretAuth({self.header!r}, {self.scheme!r}, {MASK!r})"

    def redact(self, text: str) -> str:
        """Return the text with every form of every secret value replaced by the mask."""
        return self._redact(text)


def basic_auth(user: str, key: SecretStr) -> SecretAuth:
    """HTTP Basic `base64(api_user:api_key)`, as the email API documents it."""
    token = base64.b64encode(f"{user}:{key.get_secret_value()}".encode()).decode("ascii")
    return SecretAuth(SecretStr(token), scheme="Basic", secrets=(key,))


def bearer_auth(token: SecretStr) -> SecretAuth:
    """`Authorization: Bearer <token>`."""
    return SecretAuth(token, scheme="Bearer")


def api_key_auth(key: SecretStr, header: str = "x-api-key") -> SecretAuth:
    """A key in a header of its own, as the iMBrace SDK sends `x-api-key: <key>`."""
    return SecretAuth(key, header=header)


#: Request headers whose value is a credential, whatever the API.
SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key"})


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers with the credential of any credential header masked."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {MASK}".strip()
        elif name.lower() in SECRET_HEADERS:
            out[name] = MASK
        else:
            out[name] = value
    return out

"""Fast serialisation of merged messages to wire format (CRLF line ends, 7-bit clean).

The ``email`` package with its default policy builds and serialises about
750 messages a second, which would make it the slowest step of a large merge.
Merge messages have one fixed shape (text and HTML alternatives, then
attachments), so this module writes that shape directly. Headers use RFC 2047
encoded words for non-ASCII text, attachment names use RFC 2231, bodies are
7bit when they can be and quoted-printable otherwise, attachments base64.
The result parses back with ``email`` into the same headers and parts.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from email.headerregistry import Address
from urllib.parse import quote

MAX_LINE = 78
# Characters a display name may hold without quotes (RFC 5322 atext plus space).
_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_ENCODED_WORD_BYTES = 45
_LONG_WORD = 900


def encoded_words(text: str) -> list[str]:
    """Return ``text`` as UTF-8 base64 encoded words (RFC 2047) of at most 75 characters each."""
    chunks: list[str] = []
    current = ""
    size = 0
    for character in text:
        width = len(character.encode("utf-8"))
        if size + width > _ENCODED_WORD_BYTES and current:
            chunks.append(current)
            current, size = "", 0
        current += character
        size += width
    if current:
        chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(chunk.encode('utf-8')).decode('ascii')}?=" for chunk in chunks]


def _needs_encoding(word: str) -> bool:
    return not word.isascii() or "=?" in word or len(word) > _LONG_WORD or not word.isprintable()


def unstructured_tokens(value: str) -> list[str]:
    """Split a free-text header value into folding units, encoding runs of non-ASCII words.

    Neighbouring words that need encoding are encoded together with the spaces between them, because
    whitespace between two encoded words is not part of the text (RFC 2047 section 6.2).
    """
    tokens: list[str] = []
    run: list[str] = []
    for word in value.split(" "):
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            tokens += encoded_words(" ".join(run))
            run = []
        tokens.append(word)
    if run:
        tokens += encoded_words(" ".join(run))
    return tokens


def fold(name: str, tokens: list[str], separator: str = " ") -> str:
    """Join ``tokens`` after ``name: ``, starting a continuation line before a token that would pass 78 characters."""
    lines = [f"{name}:"]
    for index, token in enumerate(tokens):
        joiner = separator if index else " "
        if index and len(lines[-1]) + len(joiner) + len(token) > MAX_LINE:
            lines[-1] += joiner.rstrip()
            lines.append(" " + token)
        else:
            lines[-1] += joiner + token if index or token else ""
    return "\r\n".join(lines) + "\r\n"


def unstructured_header(name: str, value: str) -> str:
    """Return a header line for free text such as Subject, encoded and folded."""
    return fold(name, unstructured_tokens(value))


def format_address(address: Address) -> str:
    """Return one address for a header: ``name <local@domain>`` with the name quoted or encoded as needed."""
    name = address.display_name
    if not name:
        return address.addr_spec
    if not name.isascii() or "=?" in name:
        phrase = " ".join(encoded_words(name))
    elif _ATEXT.match(name):
        phrase = name
    else:
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{phrase} <{address.addr_spec}>"


def address_header(name: str, addresses: list[Address]) -> str:
    """Return an address header line (From, To, Cc...), one address per line when they do not fit on one."""
    return fold(name, [format_address(address) for address in addresses], separator=", ")


def text_part(text: str, subtype: str) -> tuple[str, str]:
    """Return the headers and the encoded body of a UTF-8 text part (7bit when ASCII with short lines)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and max(map(len, text.split("\n"))) <= 998 and "\0" not in text:
        encoding, body = "7bit", text
    else:
        encoding = "quoted-printable"
        body = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    if not body.endswith("\n"):
        body += "\n"
    headers = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n'
    return headers, body.replace("\n", "\r\n")


def attachment_part(filename: str, content_type: str, encoded: str) -> tuple[str, str]:
    """Return the headers and body of an attachment; ``encoded`` is its base64 text (see ``encode_attachment``)."""
    if filename.isascii() and filename.isprintable() and '"' not in filename and "\\" not in filename:
        type_param, disposition_param = f'; name="{filename}"', f'; filename="{filename}"'
    else:
        # RFC 2231 extended parameter; the name= parameter keeps an encoded word for older programs.
        type_param = "; name=\"" + " ".join(encoded_words(filename)) + '"'
        disposition_param = f"; filename*=utf-8''{quote(filename, safe='')}"
    headers = (
        f"Content-Type: {content_type}{type_param}\r\n"
        f"Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment{disposition_param}\r\n"
    )
    return headers, encoded


def encode_attachment(data: bytes) -> str:
    """Return ``data`` as base64 in 76-character CRLF lines."""
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def multipart(subtype: str, parts: list[tuple[str, str]]) -> tuple[str, str]:
    """Return the headers and body of a multipart entity holding ``parts`` (headers, body pairs)."""
    while True:
        # A boundary needs to be unique, not secret: random's generator spares a system call per message.
        boundary = f"=_{random.getrandbits(96):024x}"
        if not any(boundary in body for _, body in parts):
            break
    # The line break before each delimiter belongs to the delimiter (RFC 2046 section 5.1.1), so one is added
    # to keep each part's own last line break.
    pieces = [f"--{boundary}\r\n{headers}\r\n{body}\r\n" for headers, body in parts]
    body = "".join(pieces) + f"--{boundary}--\r\n"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n', body

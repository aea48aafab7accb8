"""Small valid PDF documents written by hand (no PDF library in the dependencies).

One A4 page, Helvetica (a standard font, so nothing is embedded), WinAnsi text, a correct
cross-reference table. Not PDF/A: that needs embedded fonts, an ICC profile and XMP metadata.
"""

from __future__ import annotations

from collections.abc import Sequence


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


_FIXED = (  # objects 1-5: the same in every letter
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
    b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
)
_COUNT = len(_FIXED) + 3  # xref entries: object 0, 1-5, the content stream, the info


def _head() -> tuple[bytes, bytes]:
    """The file up to object 6 and the xref entries of objects 1-5: built once (issue 17
    item 6: a GP or hospital export renders a letter for every admission)."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    xref = bytearray()
    for n, body in enumerate(_FIXED, start=1):
        xref += b"%010d 00000 n \n" % len(out)
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    return bytes(out), bytes(xref)


_HEAD, _HEAD_XREF = _head()


_MAX_LINES = 55
_LINE_AT = tuple(b"BT /F1 11 Tf 56 %d Td (" % (750 - 16 * k) for k in range(_MAX_LINES))


def _escaped_lines(lines: Sequence[str]) -> list[bytes]:
    """Each line escaped: all in one encode (a letter has a dozen lines), unless a line holds
    a newline of its own."""
    escaped = _escape("\n".join(lines)).split(b"\n")
    return escaped if len(escaped) == len(lines) else [_escape(line) for line in lines]


def render(title: str, lines: Sequence[str]) -> bytes:
    """A one-page PDF with a bold title and the given lines of body text."""
    escaped = _escape(title)
    ops = [b"BT /F2 16 Tf 56 780 Td (" + escaped + b") Tj ET"]
    ops += [_LINE_AT[k] + line + b") Tj ET"
            for k, line in enumerate(_escaped_lines(lines[:_MAX_LINES]))]
    content = b"\n".join(ops)
    out = bytearray(_HEAD)
    at_content = len(out)
    out += b"6 0 obj\n<< /Length %d >>\nstream\n" % len(content) + content
    out += b"\nendstream\nendobj\n"
    at_info = len(out)
    out += (b"7 0 obj\n<< /Title (" + escaped
            + b") /Producer (pgo-sandbox population) >>\nendobj\n")
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % _COUNT + _HEAD_XREF
    out += b"%010d 00000 n \n%010d 00000 n \n" % (at_content, at_info)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        _COUNT, _COUNT - 1, xref)
    return bytes(out)

"""Quote folding on replies written the way Gmail, Outlook, Thunderbird, Apple Mail and Yahoo write them."""

from __future__ import annotations

import pytest

from desktop.mail.html import html_to_text, sanitize_html
from desktop.mail.quotes import fold_html, fold_plain, quote_depth

# --- plain text replies --------------------------------------------------------------

GMAIL_PLAIN = """\
Thanks, Thursday works for me.

Ben

On Tue, Dec 1, 2026 at 10:02 AM Ana Lima <ana.lima@example.org>
wrote:

> Hi Ben,
>
> Can we move the review to Thursday?
>
> Ana
"""

THUNDERBIRD_PLAIN = """\
Yes, the figures are final.

On 01/12/2026 10:02, Ana Lima wrote:
> Are these the final figures?
>> Draft attached.
"""

APPLE_PLAIN = """\
Sounds good.

Sent from my iPhone

> On 1 Dec 2026, at 10:02, Ana Lima <ana.lima@example.org> wrote:
>
> Lunch at noon?
"""

OUTLOOK_PLAIN = """\
Approved.

Regards,
Carl

-----Original Message-----
From: Ana Lima <ana.lima@example.org>
Sent: Tuesday, December 1, 2026 10:02 AM
To: Carl Berg <carl@example.org>
Subject: Travel request

Please approve my travel request.
"""

OUTLOOK_UNDERSCORES_PLAIN = """\
Done, see the shared folder.

________________________________
From: Ana Lima <ana.lima@example.org>
Sent: 01 December 2026 10:02
To: Dee <dee@example.org>
Subject: Slides

Could you upload the slides?
"""

OUTLOOK_MAC_PLAIN = """\
I will be there.

From: Ana Lima <ana.lima@example.org>
Date: Tuesday, 1 December 2026 at 10:02
To: Eve <eve@example.org>
Subject: Offsite

Are you coming to the offsite?
"""

GERMAN_PLAIN = """\
Passt, danke!

Am 01.12.2026 um 10:02 schrieb Ana Lima:
> Geht Donnerstag?
"""


@pytest.mark.parametrize(
    ("name", "text", "head_ends", "quote_starts", "quoted_lines"),
    [
        ("gmail", GMAIL_PLAIN, "Ben\n\n", "On Tue, Dec 1", 8),
        ("thunderbird", THUNDERBIRD_PLAIN, "final.\n\n", "On 01/12/2026", 3),
        ("apple mail", APPLE_PLAIN, "iPhone\n\n", "> On 1 Dec 2026", 3),
        ("outlook", OUTLOOK_PLAIN, "Carl\n\n", "-----Original Message-----", 7),
        ("outlook underscores", OUTLOOK_UNDERSCORES_PLAIN, "folder.\n\n", "________", 7),
        ("outlook for mac", OUTLOOK_MAC_PLAIN, "there.\n\n", "From: Ana Lima", 6),
        ("german", GERMAN_PLAIN, "danke!\n\n", "Am 01.12.2026", 2),
    ],
)
def test_plain_reply_folds_trailing_quote(name: str, text: str, head_ends: str, quote_starts: str, quoted_lines: int) -> None:
    fold = fold_plain(text)

    assert fold.has_quote, name
    assert fold.head + fold.quoted == text
    assert fold.head.endswith(head_ends)
    assert fold.quoted.startswith(quote_starts)
    assert fold.quoted_lines == quoted_lines


def test_plain_inline_answers_stay_visible() -> None:
    text = "On Tue, Ana wrote:\n> Budget?\nApproved.\n> Dates?\nNext week.\n"

    fold = fold_plain(text)

    assert not fold.has_quote
    assert fold.head == text


def test_plain_quote_before_signature_folds() -> None:
    text = "Agreed.\n\nOn Mon, Ben wrote:\n> Shall we?\n\n-- \nCarl Berg\nExample Ltd\n"

    fold = fold_plain(text)

    assert fold.head == "Agreed.\n\n"
    assert fold.quoted.startswith("On Mon, Ben wrote:")
    assert fold.quoted.endswith("Example Ltd\n")


def test_plain_without_quote_is_whole() -> None:
    fold = fold_plain("Hello,\nno quote here.\n")

    assert not fold.has_quote
    assert fold.quoted_lines == 0


def test_plain_forwarded_message_is_not_folded() -> None:
    text = "FYI\n\n---------- Forwarded message ---------\nFrom: Ana <ana@example.org>\nDate: Tue\nSubject: Plan\nTo: Ben\n\nThe plan.\n"

    assert not fold_plain(text).has_quote


def test_plain_lone_from_line_not_folded() -> None:
    text = "From: the top of the hill you can see the sea.\nIt was lovely.\n"

    assert not fold_plain(text).has_quote


def test_quote_depth_counts_levels() -> None:
    assert quote_depth("> a") == 1
    assert quote_depth(">> a") == 2
    assert quote_depth("> > a") == 2
    assert quote_depth("a > b") == 0


# --- HTML replies ------------------------------------------------------------------------

GMAIL_HTML = (
    '<div dir="ltr">Thursday works for me.<div><br></div><div>Ben</div></div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Dec 1, 2026 at 10:02 AM Ana Lima &lt;'
    '<a href="mailto:ana.lima@example.org">ana.lima@example.org</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
    'padding-left:1ex"><div dir="ltr">Hi Ben,<div>Can we move the review to Thursday?</div></div></blockquote></div>\n'
)

THUNDERBIRD_HTML = (
    '<html><head><meta http-equiv="content-type" content="text/html; charset=UTF-8"></head><body>'
    '<p>Yes, the figures are final.</p>\n'
    '<div class="moz-cite-prefix">On 01/12/2026 10:02, Ana Lima wrote:<br></div>\n'
    '<blockquote type="cite" cite="mid:abc@example.org"><p>Are these the final figures?</p></blockquote>\n'
    '<br>\n</body></html>\n'
)

APPLE_HTML = (
    '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
    '<body dir="auto"><div dir="ltr">Sounds good.</div><div dir="ltr"><br></div><div dir="ltr">Sent from my iPhone</div>'
    '<div dir="ltr"><br><blockquote type="cite">On 1 Dec 2026, at 10:02, Ana Lima &lt;ana.lima@example.org&gt; wrote:<br><br></blockquote></div>'
    '<blockquote type="cite"><div dir="ltr">Lunch at noon?</div></blockquote></body></html>'
)

OUTLOOK_DESKTOP_HTML = (
    '<html><body lang="EN-GB"><div class="WordSection1"><p class="MsoNormal">Approved.<o:p></o:p></p>'
    '<p class="MsoNormal">Regards, Carl<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
    '<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
    '<p class="MsoNormal"><b><span lang="EN-US">From:</span></b><span lang="EN-US"> Ana Lima &lt;ana.lima@example.org&gt;'
    '<br><b>Sent:</b> Tuesday, December 1, 2026 10:02 AM<br><b>To:</b> Carl Berg<br><b>Subject:</b> Travel request</span></p>'
    '</div></div><p class="MsoNormal">Please approve my travel request.</p></div></body></html>'
)

OUTLOOK_WEB_HTML = (
    '<html><body><div style="font-family: Calibri">Done, see the shared folder.</div>'
    '<div id="appendonsend"></div>'
    '<hr style="display:inline-block;width:98%" tabindex="-1">'
    '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt"><b>From:</b> Ana Lima<br>'
    '<b>Sent:</b> 01 December 2026 10:02<br><b>Subject:</b> Slides</font><div>&nbsp;</div></div>'
    '<div class="BodyFragment"><font size="2">Could you upload the slides?</font></div></body></html>'
)

OUTLOOK_OLD_HTML = (
    '<div><font face="Arial">Fine by me.</font></div>'
    '<div class="OutlookMessageHeader" lang="en-us" dir="ltr" align="left"><hr tabindex="-1">'
    '<font face="Tahoma"><b>From:</b> Ana<br><b>Sent:</b> Tuesday</font><br></div>'
    '<div>The old message.</div>'
)

OUTLOOK_ORIGINAL_MESSAGE_HTML = (
    '<p>See you then.</p><div><p>-----Original Message-----<br>From: Ana<br>Sent: Tuesday</p>'
    '<p>Meeting at 3?</p></div>'
)

YAHOO_HTML = (
    '<div class="ydp1"><div>Great, thanks!</div></div>'
    '<div id="yahoo_quoted_1" class="yahoo_quoted"><div>On Tuesday, 1 December 2026, 10:02, Ana Lima wrote:</div>'
    '<div><br></div><div>Ticket booked?</div></div>'
)


@pytest.mark.parametrize(
    ("name", "markup", "reply", "quote_text"),
    [
        ("gmail", GMAIL_HTML, "Thursday works for me.", "Can we move the review"),
        ("thunderbird", THUNDERBIRD_HTML, "Yes, the figures are final.", "On 01/12/2026 10:02, Ana Lima wrote:"),
        ("apple mail", APPLE_HTML, "Sent from my iPhone", "Lunch at noon?"),
        ("outlook desktop", OUTLOOK_DESKTOP_HTML, "Regards, Carl", "Please approve my travel request."),
        ("outlook web", OUTLOOK_WEB_HTML, "Done, see the shared folder.", "Could you upload the slides?"),
        ("outlook old", OUTLOOK_OLD_HTML, "Fine by me.", "The old message."),
        ("outlook original message", OUTLOOK_ORIGINAL_MESSAGE_HTML, "See you then.", "Meeting at 3?"),
        ("yahoo", YAHOO_HTML, "Great, thanks!", "Ticket booked?"),
    ],
)
def test_html_reply_folds_trailing_quote(name: str, markup: str, reply: str, quote_text: str) -> None:
    fold = fold_html(markup)

    assert fold.has_quote, name
    assert fold.head + fold.quoted == markup
    head_text = html_to_text(sanitize_html(fold.head))
    quoted_text = html_to_text(sanitize_html(fold.quoted))
    assert reply in head_text
    assert quote_text not in head_text
    assert quote_text in quoted_text
    assert "From:" not in head_text
    assert "wrote:" not in head_text


def test_html_thunderbird_attribution_is_folded_with_quote() -> None:
    fold = fold_html(THUNDERBIRD_HTML)

    assert fold.quoted.startswith('<div class="moz-cite-prefix">')


def test_html_outlook_web_rule_is_folded_with_quote() -> None:
    fold = fold_html(OUTLOOK_WEB_HTML)

    assert "<hr" in fold.quoted
    assert "<hr" not in fold.head


def test_html_inline_answers_stay_visible() -> None:
    markup = (
        '<div>See my answers below.</div><blockquote type="cite">Budget?</blockquote><div>Approved.</div>'
        '<blockquote type="cite">Dates?</blockquote><div>Next week.</div>'
    )

    fold = fold_html(markup)

    assert not fold.has_quote


def test_html_gmail_bottom_post_is_not_folded() -> None:
    markup = (
        '<div class="gmail_quote"><div class="gmail_attr">On Tue, Ana wrote:</div>'
        '<blockquote class="gmail_quote">Question?</blockquote></div><div>My answer, below the quote.</div>'
    )

    assert not fold_html(markup).has_quote


def test_html_gmail_forward_is_not_folded() -> None:
    markup = (
        '<div dir="ltr">FYI</div><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        '---------- Forwarded message ---------<br>From: <b>Ana</b></div><div>The plan.</div></div>'
    )

    assert not fold_html(markup).has_quote


def test_html_nested_gmail_quotes_fold_at_outermost() -> None:
    inner = '<div class="gmail_quote">On Mon, Ben wrote:<blockquote class="gmail_quote">First.</blockquote></div>'
    markup = f'<div>Third.</div><div class="gmail_quote">On Tue, Ana wrote:<blockquote class="gmail_quote">Second.{inner}</blockquote></div>'

    fold = fold_html(markup)

    assert fold.head == "<div>Third.</div>"


def test_html_without_quote_is_whole() -> None:
    markup = "<p>Hello</p><p>No quote.</p>"

    fold = fold_html(markup)

    assert not fold.has_quote
    assert fold.head == markup


def test_html_unclosed_tags_still_fold() -> None:
    markup = '<div><p>Reply<div class="gmail_quote">On Tue, Ana wrote:<blockquote class="gmail_quote">Old'

    fold = fold_html(markup)

    assert fold.head == "<div><p>Reply"
    assert "Old" in html_to_text(sanitize_html(fold.quoted))

"""Generate realistic, reproducible mailboxes for tests, benchmarks and the demo.

The generator writes RFC 5322 messages as text instead of going through the
``email`` package, because the benchmarks need 100,000 messages and the
``email`` package builds only a few hundred per second. Everything is drawn from
one ``random.Random(seed)``, so the same ``(count, seed, start, days)`` gives
byte-identical messages on every run of the same Python version, whatever the
clock, hash seed or locale.

The mix imitates a heavy two-year inbox: conversations with threads, quoting
and several participants, mailing lists, HTML newsletters, service
notifications, receipts and invoices, PDF and PNG attachments, and non-ASCII
subjects, names and file names. Every address uses a reserved example domain
(RFC 2606 and RFC 6761), and every person is invented.

Run ``python -m desktop.mailgen --help`` for the command line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import itertools
import logging
import os
import re
import struct
import sys
import textwrap
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from random import Random
from urllib.parse import quote

logger = logging.getLogger(__name__)

USER_NAME = "Alex Morgan"
USER_ADDR = "you@example.com"

# The newest instant of a generated mailbox unless the caller passes `start`.
DEFAULT_START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
DEFAULT_DAYS = 730

DEMO_COUNT = 400
DEMO_SEED = 2026
DEMO_FILE_NAME = "demo.mbox"
FOLDER_HEADER = "X-Sluice-Folder"
FLAGS_HEADER = "X-Sluice-Flags"

INBOX = "INBOX"
SENT = "Sent"
ARCHIVE = "Archive"

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DRAFT = "\\Draft"
DELETED = "\\Deleted"

# Maildir info letters. write_maildir sorts them into the ASCII order that Maildir requires.
_MAILDIR_FLAG_LETTERS = {DRAFT: "D", FLAGGED: "F", ANSWERED: "R", SEEN: "S", DELETED: "T"}


@dataclass
class GeneratedMessage:
    """One generated message and where it belongs.

    Attributes:
        folder: Folder path with "/" as separator, such as "INBOX" or "Lists/python-dev".
        flags: IMAP system flags, such as ("\\Seen", "\\Flagged").
        date: Timezone-aware time of the Date header.
        raw: The full RFC 5322 message with CRLF line ends.
    """

    folder: str
    flags: tuple[str, ...]
    date: datetime
    raw: bytes


# ---------------------------------------------------------------------------
# Word lists. Names and companies are invented, and all domains are reserved
# for documentation (example.com/.net/.org and the .example and .test TLDs).

_FIRST_NAMES = (
    "Dana", "Priya", "Marcus", "Elena", "Tom", "Grace", "Samir", "Olivia", "Jonah", "Maya",
    "Rafael", "Chloe", "Ben", "Aisha", "Liam", "Hannah", "Noah", "Isabel", "Victor", "Nora",
    "Owen", "Leah", "Ethan", "Ruth", "Felix", "Iris", "Caleb", "Tessa", "Gavin", "Mira",
    "Jasper", "Lena", "Arjun", "Naomi", "Oscar", "Wendy", "Hugo", "Clara", "Dev", "Rosa",
)
_LAST_NAMES = (
    "Reyes", "Patel", "Holloway", "Brennan", "Okafor", "Lindqvist", "Castillo", "Whitaker",
    "Fairbanks", "Delgado", "Ashford", "Kowalski", "Mercer", "Thornton", "Abernathy",
    "Quinlan", "Vasquez", "Pemberton", "Harlow", "Osei", "Caldwell", "Marlowe", "Redfield",
    "Sinclair", "Donnelly", "Farrow", "Gallagher", "Ingram", "Jennings", "Okonkwo",
)

# (display name, greeting name, local part, locale) for people whose names are not ASCII.
_INTERNATIONAL_PEOPLE = (
    ("Jürgen Weiß", "Jürgen", "juergen.weiss", "de"),
    ("Käthe Brünner", "Käthe", "kaethe.bruenner", "de"),
    ("Björn Schröder", "Björn", "bjoern.schroeder", "de"),
    ("Lotte Hähnel", "Lotte", "lotte.haehnel", "de"),
    ("Günter Strauß", "Günter", "guenter.strauss", "de"),
    ("Zoë Lefèvre", "Zoë", "zoe.lefevre", "fr"),
    ("Hélène Dubois-Marchand", "Hélène", "helene.dubois", "fr"),
    ("François Gérard", "François", "francois.gerard", "fr"),
    ("Noémie Béranger", "Noémie", "noemie.beranger", "fr"),
    ("Søren Østergaard", "Søren", "soren.ostergaard", "da"),
    ("Åsa Lindström", "Åsa", "asa.lindstrom", "sv"),
    ("José Muñoz", "José", "jose.munoz", "es"),
    ("Inés Peña", "Inés", "ines.pena", "es"),
    ("田中 優子", "Yuko", "yuko.tanaka", "ja"),
    ("佐藤 健", "Ken", "ken.sato", "ja"),
    ("鈴木 美咲", "Misaki", "misaki.suzuki", "ja"),
    ("王芳", "Fang", "wang.fang", "zh"),
    ("李伟", "Wei", "li.wei", "zh"),
    ("陈静", "Jing", "chen.jing", "zh"),
    ("Дмитрий Соколов", "Dmitri", "d.sokolov", "ru"),
    ("Анна Кузнецова", "Anna", "anna.kuznetsova", "ru"),
    ("Ольга Морозова", "Olga", "olga.morozova", "ru"),
)

# UTC offsets in hours. NOTE: fixed offsets, so dates ignore daylight saving time.
_LOCALE_OFFSETS = {
    "en": (-8, -5, 0, 0, 1), "de": (1,), "fr": (1,), "da": (1,), "sv": (1,),
    "es": (1,), "ja": (9,), "zh": (8,), "ru": (3,),
}
_USER_TZ = timezone(timedelta(hours=1))

_PEOPLE_DOMAINS = {
    "en": ("example.com", "northwind.example", "brightwater.example", "corp.example.net",
           "mail.example.org", "harbor-logistics.example", "freemail.example.net",
           "post.example.org", "mailbox.test", "uni-nord.example"),
    "de": ("bergmann-gmbh.example", "example.com", "post.example.org"),
    "fr": ("lumiere-conseil.example", "example.com", "freemail.example.net"),
    "da": ("fjordline.example",), "sv": ("fjordline.example",),
    "es": ("example.net", "freemail.example.net"),
    "ja": ("sakura-systems.example", "example.com"),
    "zh": ("jade-trading.example", "example.com"),
    "ru": ("volga-soft.example", "example.net"),
}

# Senders at these domains write personal mail rather than work mail.
_PERSONAL_DOMAINS = ("freemail.example.net", "post.example.org", "mailbox.test")

_MAILERS = (
    "Quillmail 3.8.1", "Larkspur Mail 2.4", "Driftwood/115.3", "Inkwell for Desktop 7.0",
    "Heron Mail (build 4102)", "Tern 1.19",
)

# Subjects that non-English speakers in the pool sometimes write.
_LOCAL_SUBJECTS = {
    "de": ("Übersicht März: Budget und Termine", "Grüße aus Köln und ein kurzes Update",
           "Änderungen am Vertragsentwurf", "Rückfragen zur Präsentation"),
    "fr": ("Réunion de lancement — ordre du jour", "Café jeudi ? Les photos de la fête",
           "Budget prévisionnel pour l'année prochaine"),
    "da": ("Møde på fredag", "Årsrapport – første udkast"),
    "sv": ("Möte på fredag", "Årsbudget och nästa steg"),
    "es": ("Reunión del miércoles", "Señales de progreso en el proyecto"),
    "ja": ("会議の議事録（11月分）", "来週のリリース予定について", "見積書の送付"),
    "zh": ("季度预算报告草稿", "关于会议室预订的问题", "下周的发布计划"),
    "ru": ("Отчёт о продажах за третий квартал", "Встреча в пятницу: повестка",
           "Вопросы по бюджету"),
}
_EMOJI_SUBJECTS = (
    "🎉 Release party on Friday", "Photos from the trip 📷", "Zoë's farewell lunch ☕",
    "Coffee? ☕", "We shipped it 🚀", "Team lunch 🍕 on Thursday",
)

_BOOKS = (
    "The Cartographer of Lost Tuesdays", "Salt and Lanterns", "A Map of Small Rivers",
    "Nine Winters in Halvard", "The Glass Beekeeper", "Orchard Weather",
    "The Last Ferry to Marrow Island", "Paper Boats in December",
)

_VOCAB: dict[str, Sequence[str] | Callable[[Random], str]] = {
    "project": ("Atlas", "Harbor", "Orion", "Maple", "Kestrel", "Juniper", "Tidewater",
                "Northstar", "Beacon", "Lumen", "Cobalt", "Meridian"),
    "topic": ("budget", "roadmap", "release", "migration", "hiring plan", "quarterly report",
              "customer survey", "security review", "onboarding", "vendor contract",
              "conference talk", "design review", "launch plan", "test plan", "pricing update",
              "support backlog", "data retention policy"),
    "document": ("slides", "spreadsheet", "draft", "proposal", "contract", "meeting notes",
                 "timeline", "summary", "budget sheet", "release checklist", "project plan",
                 "status report"),
    "team": ("design team", "finance team", "legal team", "support team", "platform team",
             "marketing team", "sales team", "data team"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "tomorrow",
            "the end of the week", "next Tuesday", "Thursday afternoon", "the end of the month"),
    "month": ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"),
    "place": ("the main conference room", "room 4B", "the small meeting room on the second floor",
              "the café across the street", "the usual video call"),
    "person": _FIRST_NAMES,
    "module": ("asyncio", "pathlib", "typing", "the import system", "the garbage collector",
               "the tokenizer", "the dict implementation", "the C API", "unittest",
               "the build system", "sqlite3", "datetime", "the parser"),
    "platform": ("Linux on ARM", "Windows", "macOS", "FreeBSD", "a small single-board computer",
                 "the buildbots"),
    "thing": ("error messages", "default arguments", "deprecation warnings", "reference counting",
              "memory usage", "startup time", "string formatting", "exception groups",
              "free-threaded builds", "time zones"),
    "book": _BOOKS,
    "author": ("Mirela Ostrand", "Theo Vance", "Ines Calder", "Rowan Ashby", "Petra Lund"),
    "route": ("the river loop", "the hill climb past the old quarry", "the coast road",
              "the lake circuit", "the gravel trail through the forest"),
    "meeting_point": ("the fountain in the park", "the north gate", "the bakery on Elm Street",
                      "the station car park"),
    "amount": lambda rng: f"${rng.randrange(4, 400) * 25:,}",
    "version": lambda rng: f"{rng.randint(1, 6)}.{rng.randint(0, 12)}",
    "count": lambda rng: str(rng.randint(2, 40)),
    "percent": lambda rng: str(rng.randint(2, 35)),
    "distance": lambda rng: str(rng.randrange(30, 130, 5)),
    "time": lambda rng: f"{rng.randint(7, 10)}:{rng.choice(('00', '15', '30', '45'))}",
}

_WORK_SENTENCES = (
    "Could you send me the latest {document} for {project} before {day}?",
    "I went through the {topic} numbers again, and the totals look right to me.",
    "The {team} asked whether we can move the {topic} meeting to {day}.",
    "Let's keep the {project} release on schedule and revisit the open items on {weekday}.",
    "I have attached the {document} with the changes we discussed.",
    "The budget for {project} is {amount} for the quarter, which leaves some room for travel.",
    "We still need sign-off from the {team} on the {topic}.",
    "Thanks for pulling this together so quickly.",
    "My main concern is the timeline, because the {team} is already stretched.",
    "Can we book {place} for an hour on {day}?",
    "The invoice from the vendor came in at {amount}, slightly above the estimate.",
    "I will be out of the office until {day}, so please reach {person} in the meantime.",
    "The conference committee accepted our talk about the {project} {topic}.",
    "Please review the {document} and leave comments by {day}.",
    "The release notes for version {version} are ready for a final read.",
    "We agreed to split the {topic} into two phases.",
    "Here is a short summary of what we decided in the meeting.",
    "The customer reported {count} issues after the last release, and two of them are blocking.",
    "I would rather ship a smaller release on time than a larger one late.",
    "Do you have time for a quick call on {day} to go over the {topic}?",
    "{person} from the {team} will join the meeting to answer questions about the {topic}.",
    "The numbers in the {document} do not match the figures in the quarterly report.",
    "We are about {percent} percent over the planned budget, mostly because of contractor hours.",
    "I moved the {topic} to next sprint so that the database work can finish first.",
    "Let me know if anything in the {document} is unclear.",
    "The draft contract says thirty days, but we usually agree to forty-five.",
    "I talked to {person} yesterday, and the {team} is happy with the new timeline.",
    "Attendance at the last conference was higher than we planned for.",
    "Could you double-check the invoice numbers before they go to the finance team?",
    "I think the meeting can be shorter if everyone reads the {document} beforehand.",
    "The {project} dashboard now shows the release dates for every team.",
    "Nothing urgent here, but I wanted you to see this before the {topic} review.",
    "We should decide on the vendor by {day}, because the quote expires after that.",
    "The room for the offsite is booked, and catering is confirmed for {count} people.",
    "I left a few questions in the margins of the {document}.",
    "Once the {topic} is approved, I will update the {project} timeline.",
    "The security review found {count} minor issues and nothing critical.",
    "Travel for the conference needs approval by the end of the month.",
    "Could we reuse the slides from the {month} meeting?",
    "The new budget template is in the shared folder.",
)
_PERSONAL_SENTENCES = (
    "Are you still free for dinner on {weekday}?",
    "The photos from the trip to the coast turned out better than I expected.",
    "We are thinking about a hike on {route} if the weather holds.",
    "I finally finished {book}, and the ending surprised me.",
    "The kids keep asking when you are coming to visit again.",
    "I found the recipe you asked about, and it is easier than it looks.",
    "Let me know what time works, and I will reserve a table.",
    "The garden is a mess after the storm, but the tomatoes survived.",
    "We booked the cabin for the second weekend of {month}.",
    "Thanks again for helping with the move last week.",
    "The concert starts at eight, so let's meet at seven near the entrance.",
    "I am sending the photos in a separate message because they are large.",
    "Could you bring the board games on {weekday}?",
    "It was great to catch up, and we should not wait another year.",
    "My sister says hello and wants the name of that bakery.",
    "The new apartment has a lot more light than the old one.",
)
_PYTHON_SENTENCES = (
    "The proposal changes how {module} handles {thing}, so it needs a careful review.",
    "I ran the benchmark suite on {platform} and saw a {percent} percent slowdown in {module}.",
    "A backport to {version} seems reasonable if the patch stays small.",
    "Could we add a deprecation period of two releases before removing the old behavior?",
    "The buildbots on {platform} have been failing since the last merge to main.",
    "I am not convinced that the extra complexity in {module} pays for itself.",
    "The draft proposal covers {thing}, but it says little about backward compatibility.",
    "Several third-party projects depend on the current behavior of {module}.",
    "The release manager asked for all changes to land before the beta freeze on {day}.",
    "Here is a short summary of the discussion at the language summit.",
    "Changing the default would break code that relies on {thing}, so it needs a warning first.",
    "The documentation for {module} should explain the new behavior with an example.",
    "I measured startup time with and without the patch, and the difference is within noise.",
    "Has anyone tried this on {platform}?",
    "The test suite passes locally, but one test in {module} is flaky on the buildbots.",
    "We discussed {thing} at the sprint and agreed to keep the current API.",
    "The release candidate for version {version} is planned for {month}.",
    "A smaller first step would be to add the new function and leave the old one alone.",
    "The issue tracker has {count} open reports about {thing} in {module}.",
    "I would like to see a migration guide before the change lands.",
)
_BOOK_SENTENCES = (
    "This month we are reading {book} by {author}.",
    "The meeting is at the library on {weekday} at seven.",
    "I liked the first half of {book} more than the second.",
    "Could someone bring an extra copy for the new member?",
    "The discussion questions for {book} are in the shared document.",
    "Next month's pick is between {book} and {book}, so please vote by {day}.",
    "{author} is giving a reading at the bookshop in {month}.",
    "I found the narrator hard to trust, which I think was the point.",
    "Snacks are on me this time.",
    "The chapter about the lighthouse was the best writing in the book.",
)
_CYCLING_SENTENCES = (
    "The Saturday ride leaves from {meeting_point} at {time}.",
    "We will do {route}, about {distance} kilometers at an easy pace.",
    "Please bring lights, because we may be back after sunset.",
    "The club jerseys arrived, and you can pick yours up on {weekday}.",
    "Rain is likely on Sunday, so the long ride moves to next week.",
    "Thanks to everyone who helped with the charity ride last month.",
    "The new route skips the busy road near the bridge.",
    "Membership renewals are due by the end of {month}.",
    "I have a spare inner tube if anyone needs one.",
    "The coffee stop is at the halfway point, as usual.",
)
_NEWS_SENTENCES = (
    "Teams that review their budget every month spend less time on surprises at the end of the quarter.",
    "The conference returns in {month} with three days of talks, workshops and hallway conversations.",
    "Readers asked how to plan a release when half the team works in another time zone.",
    "Our guide walks through the steps, from the first meeting to the final invoice.",
    "Early-bird tickets are available until the end of {month}.",
    "The survey of {count} hundred readers found that most meetings could be shorter.",
    "Prices for cloud storage fell again this year, but bandwidth costs did not.",
    "A small change to the onboarding checklist saved new hires about a week.",
    "The release adds offline mode, faster search and a redesigned settings page.",
    "We interviewed three founders about how they handle the first hundred customers.",
    "Markets moved little this week, while bond yields rose slightly.",
    "The autumn sale includes rain jackets, tents and lightweight stoves.",
    "Flights to the coast start at {amount} for travel before {month}.",
    "The call for papers closes on {weekday}, and first-time speakers are welcome.",
    "Our editors picked five books about design and work for the long weekend.",
    "Security researchers recommend turning on two-step sign-in for every account.",
    "The workshop covers budgeting, forecasting and reporting for small teams.",
    "Members can now download every past issue from the archive.",
)
_HEADLINE_TEMPLATES = (
    "{count} ways to shorten your weekly meeting", "How to plan a release across time zones",
    "What the new pricing means for small teams", "Inside the {project} redesign",
    "The budget checklist for the next quarter", "Notes from the {month} conference",
    "A practical guide to onboarding", "Why invoices get paid late, and how to fix it",
    "Five books for the long weekend", "The state of remote work in {month}",
    "Lessons from {count} customer interviews", "Travel deals for {month}",
    "Gear we tested this season", "What changed in version {version}",
)

_WORK_SUBJECTS = (
    "{project} {topic}", "Question about the {topic}", "{project}: {topic} for {month}",
    "Meeting notes: {project} {topic}", "Draft {document} for {project}", "Updated {document}",
    "Quick question about {project}", "{topic} review on {weekday}", "Conference travel in {month}",
    "Budget numbers for {month}", "Release plan for {project} {version}",
    "Can we move the {topic} meeting?", "Follow-up from {weekday}", "Feedback on the {document}",
    "Hiring plan for the {team}", "Notes from the customer call", "Planning the {month} offsite",
    "Vendor contract renewal", "Agenda for {weekday}'s meeting",
)
_PERSONAL_SUBJECTS = (
    "Dinner on {weekday}?", "Photos from the weekend", "Plans for {month}", "Happy birthday!",
    "Hiking trip in {month}", "The recipe you asked for", "Moving day help?", "Concert tickets",
    "Catching up",
)
_PYTHON_SUBJECTS = (
    "Proposal: change {thing} in {module}", "Deprecating old behavior in {module}",
    "Buildbot failures on {platform}", "Performance regression in {module}",
    "Release schedule for {version}", "Draft proposal on {thing}", "Backporting the {module} fix",
)
_BOOK_SUBJECTS = ("{month} meeting: {book}", "Vote for next month's book", "Reading at the bookshop")
_CYCLING_SUBJECTS = ("Saturday ride: {route}", "Club jerseys", "Route change for Sunday",
                     "Membership renewals")

_GREETINGS = ("Hi {first},", "Hello {first},", "Hi {first},", "{first},", "Dear {first},", "Hey {first},")
_SIGNOFFS = ("Best,", "Thanks,", "Cheers,", "Regards,", "Best regards,", "Thanks again,")
_TITLES = ("Product Manager", "Finance Lead", "Senior Engineer", "Operations", "Account Manager",
           "Designer", "Engineering Manager", "Legal Counsel")

_FOLLOW_UP_OPENERS = (
    "Following up on my message below.", "Just checking whether you had a chance to look at this.",
    "One more thing I forgot to mention.",
)
_REPLY_OPENERS = (
    "Thanks, that works for me.", "Sounds good.", "Agreed, let's do that.",
    "Good point, I had not thought of that.", "I can take care of this.",
    "Sorry for the slow reply.", "Quick answer below.", "Yes, I will be there.",
    "I checked with the team, and we are fine with it.",
)

_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_GERMAN_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
                  "September", "Oktober", "November", "Dezember")

# (file name pattern, content type). {date} becomes the message date.
_CONVERSATION_ATTACHMENTS = (
    ("Q3 budget.pdf", "application/pdf"), ("Übersicht März.pdf", "application/pdf"),
    ("Meeting notes {date}.pdf", "application/pdf"), ("Angebot für Ihr Projekt.pdf", "application/pdf"),
    ("Présentation équipe.pdf", "application/pdf"), ("見積書.pdf", "application/pdf"),
    ("合同草案.pdf", "application/pdf"), ("Отчёт за квартал.pdf", "application/pdf"),
    ("contract-draft-v3.pdf", "application/pdf"), ("release-plan.pdf", "application/pdf"),
    ("conference-schedule.pdf", "application/pdf"),
    ("Jahresbericht 2026 – Übersicht der Ausgaben und Einnahmen nach Abteilungen.pdf",
     "application/pdf"),
    ("screenshot.png", "image/png"), ("Screenshot {date} at 14.21.07.png", "image/png"),
    ("whiteboard.png", "image/png"), ("Grafik Umsätze.png", "image/png"),
    ("diagram.png", "image/png"), ("photo-from-offsite.png", "image/png"),
)


@dataclass(frozen=True)
class _Contact:
    name: str
    first: str
    addr: str
    locale: str
    tz: timezone
    mailer: str
    header: str  # the formatted "Name <addr>" for From, To and Cc


@dataclass(frozen=True)
class _MailingList:
    folder: str
    name: str
    description: str
    subject_prefix: str
    sentences: tuple[str, ...]
    subjects: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"{self.name}@lists.example.org"

    @property
    def list_id(self) -> str:
        return f"{self.name}.lists.example.org"


_MAILING_LISTS = (
    _MailingList("Lists/python-dev", "python-dev", "Python core development", "",
                 _PYTHON_SENTENCES, _PYTHON_SUBJECTS),
    _MailingList("Lists/book-club", "book-club", "Riverside book club", "[book-club] ",
                 _BOOK_SENTENCES, _BOOK_SUBJECTS),
    _MailingList("Lists/city-cycling", "city-cycling", "City cycling club", "[Cycling] ",
                 _CYCLING_SENTENCES, _CYCLING_SUBJECTS),
)
# Relative traffic of the lists above.
_LIST_WEIGHTS = (6, 1, 2)


@dataclass(frozen=True)
class _Service:
    name: str
    addr: str
    kind: str  # which builder writes its mail: "newsletter", "notification" or "receipt"
    locale: str = "en"


_NEWSLETTERS = (
    _Service("Northwind Weekly", "newsletter@news.northwind.example", "newsletter"),
    _Service("DevPulse", "weekly@devpulse.example.net", "newsletter"),
    _Service("The Tidewater Ledger", "digest@ledger.example.org", "newsletter"),
    _Service("Brightwater Travel", "deals@mail.brightwater.example", "newsletter"),
    _Service("Fjordline Outdoor", "hello@fjordline.example", "newsletter"),
    _Service("Kestrel Conference", "info@kestrelconf.example", "newsletter"),
)
_NEWSLETTER_WEIGHTS = (4, 4, 2, 2, 2, 1)

# Conversation and reply kinds make threads; the weights are percent of all messages.
_KINDS = ("conversation", "reply", "sent", "list", "newsletter", "notification", "receipt")
_KIND_WEIGHTS = (13, 16, 11, 22, 10, 23, 5)

# Mail arrives mostly in working hours of the user's time zone.
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 7, 12, 14, 14, 13, 10, 12, 13, 13, 12, 10, 7, 6, 5, 4, 3, 2)


# ---------------------------------------------------------------------------
# Encoding helpers.

_PHRASE_SAFE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# Payload limits keep each encoded word within 68 characters, so "Subject: "
# plus one word fits the 78-character line length that RFC 5322 recommends.
_B_WORD_BYTES = 42
_Q_WORD_CHARS = 54


def _encode_words(text: str) -> str:
    """Encode a header text as RFC 2047 encoded words, folded one word per line."""
    if text.isascii():
        return text

    non_ascii = sum(1 for char in text if ord(char) > 127)
    words = _q_words(text) if non_ascii * 4 < len(text) else _b_words(text)
    return "\n ".join(words)


def _b_words(text: str) -> list[str]:
    # Chunks end on character boundaries: RFC 2047 section 5 forbids splitting
    # a multi-byte character across encoded words.
    words = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _B_WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return [f"=?UTF-8?B?{base64.b64encode(word).decode('ascii')}?=" for word in words]


def _q_words(text: str) -> list[str]:
    words = []
    chunk = ""
    for char in text:
        if char == " ":
            encoded = "_"
        else:
            encoded = "".join(chr(b) if b in _Q_SAFE else f"={b:02X}" for b in char.encode("utf-8"))
        if len(chunk) + len(encoded) > _Q_WORD_CHARS:
            words.append(chunk)
            chunk = ""
        chunk += encoded
    words.append(chunk)
    return [f"=?UTF-8?Q?{word}?=" for word in words]


def _fold(text: str, width: int = 70) -> str:
    """Fold an ASCII unstructured header value at spaces."""
    if len(text) <= width:
        return text

    lines = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n ".join(lines)


def _header_text(text: str) -> str:
    return _encode_words(text) if not text.isascii() else _fold(text)


def _format_address(name: str, addr: str) -> str:
    if not name:
        return addr
    if not name.isascii():
        return f"{_encode_words(name)} <{addr}>"
    if _PHRASE_SAFE.fullmatch(name):
        return f"{name} <{addr}>"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{addr}>'


def _address_list(headers: Sequence[str]) -> str:
    return ",\n ".join(headers)


def _format_date(moment: datetime) -> str:
    """Format an RFC 5322 date without strftime, whose names follow the locale."""
    offset = int(moment.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset)
    return (
        f"{_WEEKDAY_NAMES[moment.weekday()]}, {moment.day:02d} {_MONTH_NAMES[moment.month - 1]} "
        f"{moment.year} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
        f"{sign}{offset // 60:02d}{offset % 60:02d}"
    )


def _filename_params(name: str) -> str:
    """Return the Content-Disposition file name parameters for `name`.

    Non-ASCII names use RFC 2231 extended parameters, split into numbered
    continuations when the encoded value would make a long line.
    """
    if name.isascii():
        return f'filename="{name}"'

    encoded = quote(name.encode("utf-8"), safe="")
    if len(encoded) <= 60:
        return f"filename*=UTF-8''{encoded}"

    pieces = []
    rest = encoded
    while rest:
        cut = min(60, len(rest))
        # Never cut inside a %XX escape.
        while "%" in rest[max(0, cut - 2):cut]:
            cut -= 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    first = f"filename*0*=UTF-8''{pieces[0]}"
    others = [f"filename*{index}*={piece}" for index, piece in enumerate(pieces[1:], start=1)]
    return ";\n ".join([first, *others])


def _text_entity(text: str, subtype: str = "plain", *, eight_bit: bool = False) -> tuple[list[str], str]:
    """Return the header lines and encoded body of a text part.

    ASCII text goes out as 7bit. Other text is UTF-8, either quoted-printable
    or, when `eight_bit` is true, raw 8-bit as some mailers send it.
    """
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and max(map(len, text.split("\n"))) <= 998:
        return [f'Content-Type: text/{subtype}; charset="us-ascii"', "Content-Transfer-Encoding: 7bit"], text
    if eight_bit and max(map(len, text.split("\n"))) <= 998:
        return [f"Content-Type: text/{subtype}; charset=UTF-8", "Content-Transfer-Encoding: 8bit"], text

    body = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    headers = [f"Content-Type: text/{subtype}; charset=UTF-8", "Content-Transfer-Encoding: quoted-printable"]
    return headers, body


def _base64_body(data: bytes) -> str:
    # Same output as base64.encodebytes, which encodes 57 bytes per call and is
    # the slowest step for large attachments.
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(f"{encoded[start:start + 76]}\n" for start in range(0, len(encoded), 76))


def _pdf_string(text: str) -> str:
    text = text.encode("ascii", "replace").decode("ascii")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _make_pdf(lines: Sequence[str], padding: bytes) -> bytes:
    """Build a small valid one-page PDF with `lines` of text.

    `padding` goes into an unreferenced stream object, which viewers ignore,
    so the file can reach a chosen size.
    """
    text_ops = "".join(f"({_pdf_string(line)}) Tj T* " for line in lines)
    content = f"BT /F1 11 Tf 14 TL 72 770 Td {text_ops}ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(padding), padding),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _make_png(rng: Random, width: int, height: int) -> bytes:
    """Build a valid RGB PNG of colored bands and noise rows.

    The pixel data goes into stored (uncompressed) deflate blocks because the
    output of zlib.compress can change between zlib builds, which would break
    byte-identical output.
    """
    palette = [bytes(rng.randrange(256) for _ in range(3)) * width for _ in range(4)]
    rows = bytearray()
    for _ in range(height):
        rows += b"\x00"
        rows += rng.randbytes(width * 3) if rng.random() < 0.3 else rng.choice(palette)

    stream = bytearray(b"\x78\x01")
    for start in range(0, len(rows), 65535):
        block = rows[start:start + 65535]
        final = 1 if start + 65535 >= len(rows) else 0
        stream += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    stream += struct.pack(">I", zlib.adler32(rows))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", bytes(stream)) + _png_chunk(b"IEND", b""))


def _notification_html(service_name: str, subject: str, text: str) -> str:
    """Lay out a notification in the table-based HTML that mail services send."""
    cell = ('style="padding:12px 24px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
            'font-size:14px;line-height:21px;color:#24292f"')
    rows = []
    for paragraph in text.rstrip("\n").split("\n\n"):
        escaped = html.escape(paragraph).replace("\n", "<br>\n")
        escaped = re.sub(r"(https://[^\s<]+)", r'<a href="\1" style="color:#0969da">\1</a>', escaped)
        rows.append(f"<tr><td {cell}>{escaped}</td></tr>")
    return (
        '<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        '<body style="margin:0;padding:0;background:#f6f8fa">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">\n'
        '<table role="presentation" width="560" cellpadding="0" cellspacing="0" '
        'style="background:#ffffff;border:1px solid #d0d7de;border-radius:6px;margin:24px 0">\n'
        f'<tr><td style="padding:16px 24px;border-bottom:1px solid #d0d7de;font-weight:600">'
        f"{html.escape(service_name)}</td></tr>\n"
        + "\n".join(rows)
        + '\n<tr><td style="padding:16px 24px;font-size:12px;color:#57606a;border-top:1px solid #d0d7de">'
        "You are receiving this notification because of your account settings. "
        "Manage notifications in your settings.</td></tr>\n"
        "</table>\n</td></tr></table>\n</body></html>\n"
    )


def _invoice_vendor(date: datetime, number: str, *, german: bool) -> tuple[_Service, str, str]:
    """Return the sender, PDF file name and subject of an invoice."""
    if german:
        month = _GERMAN_MONTHS[date.month - 1]
        service = _Service("Bergmann Büroservice", "rechnung@bergmann-buero.example", "receipt", "de")
        return service, f"Rechnung {number} – {month}.pdf", f"Ihre Rechnung {number} für {month}"

    service = _Service("Harbor Hosting Billing", "billing@harborhosting.example.net", "receipt")
    return service, f"{number}.pdf", f"Invoice {number} for {_MONTH_NAMES[date.month - 1]} {date.year}"


def _quote_text(text: str, max_lines: int = 40) -> str:
    lines = text.rstrip("\n").split("\n")[:max_lines]
    return "\n".join(f"> {line}" if line and not line.startswith(">") else f">{line}" for line in lines)


# ---------------------------------------------------------------------------
# The generator.


@dataclass
class _Thread:
    subject: str
    pool: str  # the paragraph pool that replies draw from
    participants: list[_Contact]
    message_ids: list[str]
    last_sender: _Contact
    last_body: str
    last_time: int
    remaining: int


@dataclass(frozen=True)
class _Pending:
    """An incoming message marked \\Answered whose reply from the user is still due."""

    thread: _Thread
    message_id: str
    references: tuple[str, ...]
    sender: _Contact
    body: str
    moment: int


@dataclass
class _Draft:
    sender: _Contact
    to: list[str]
    subject: str
    entity: tuple[list[str], str]
    message_id: str
    cc: Sequence[str] = ()
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    extra: Sequence[str] = ()
    incoming: bool = True
    dkim_domain: str | None = None


_USER = _Contact(USER_NAME, "Alex", USER_ADDR, "en", _USER_TZ, "Quillmail 3.8.1",
                 _format_address(USER_NAME, USER_ADDR))

# Threads go quiet after this many seconds without a message.
_THREAD_IDLE_SECONDS = 21 * 86400
_MAX_ACTIVE_THREADS = 60
# Real clients trim long References headers, keeping the root and the newest ids.
_MAX_REFERENCES = 12


def _trim_references(ids: Sequence[str]) -> list[str]:
    if len(ids) <= _MAX_REFERENCES:
        return list(ids)
    return [ids[0], *ids[-(_MAX_REFERENCES - 1):]]


class _Generator:
    """Stateful source of messages for one `generate` call."""

    def __init__(self, count: int, seed: int, end: datetime, days: int) -> None:
        self._rng = Random(seed)
        self._count = count
        self._end_ts = int(end.timestamp())
        self._days = days
        pool_size = min(1500, 120 + count // 40)
        self._init_people(count)
        self._init_text_pools(pool_size)
        self._threads: list[_Thread] = []
        self._list_threads: dict[str, list[_Thread]] = {m.name: [] for m in _MAILING_LISTS}
        self._pending: deque[_Pending] = deque()
        self._can_reply = False
        self._sequence = 0

    # -- setup -------------------------------------------------------------

    def _init_people(self, count: int) -> None:
        # Many rare senders and a few heavy ones: weights fall off as 1/rank (Zipf),
        # and the top ranks are colleagues at the user's own company.
        # One frequent contact per language keeps every script in small mailboxes too.
        colleagues = [self._make_colleague() for _ in range(6)]
        locales = list(dict.fromkeys(person[3] for person in _INTERNATIONAL_PEOPLE))
        self._rng.shuffle(locales)
        regulars = [self._make_contact(locale) for locale in locales]
        others = [self._make_contact() for _ in range(min(3000, 60 + count // 12))]
        self._contacts = colleagues[:3] + regulars[:3] + colleagues[3:] + regulars[3:] + others
        self._contact_cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(self._contacts))))
        self._list_members = {}
        self._list_cum = {}
        for mailing_list in _MAILING_LISTS:
            members = [self._make_contact() for _ in range(min(800, 25 + count // 60))]
            self._list_members[mailing_list.name] = members
            self._list_cum[mailing_list.name] = list(
                itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(members)))
            )

    def _make_colleague(self) -> _Contact:
        rng = self._rng
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        addr = f"{first}.{last}@example.com".lower()
        return _Contact(f"{first} {last}", first, addr, "en", _USER_TZ, rng.choice(_MAILERS),
                        _format_address(f"{first} {last}", addr))

    def _make_contact(self, locale: str | None = None) -> _Contact:
        rng = self._rng
        if locale is not None:
            people = [person for person in _INTERNATIONAL_PEOPLE if person[3] == locale]
            name, first, local, locale = rng.choice(people)
        elif rng.random() < 0.22:
            name, first, local, locale = rng.choice(_INTERNATIONAL_PEOPLE)
        else:
            first = rng.choice(_FIRST_NAMES)
            last = rng.choice(_LAST_NAMES)
            name = f"{first} {last}"
            locale = "en"
            local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}",
                                first)).lower()
        domain = rng.choice(_PEOPLE_DOMAINS[locale])
        addr = f"{local}@{domain}"
        if rng.random() < 0.08 and locale == "en":
            name = ""  # some senders have no display name
        tz = timezone(timedelta(hours=rng.choice(_LOCALE_OFFSETS[locale])))
        return _Contact(name, first, addr, locale, tz, rng.choice(_MAILERS), _format_address(name, addr))

    def _init_text_pools(self, size: int) -> None:
        self._paragraphs = {
            "work": self._make_paragraphs(_WORK_SENTENCES, size),
            "personal": self._make_paragraphs(_PERSONAL_SENTENCES, max(60, size // 4)),
        }
        news = self._make_paragraphs(_NEWS_SENTENCES, max(60, size // 2), wrap=False)
        self._news = [(html.escape(text), textwrap.fill(text, 72)) for text in news]
        for mailing_list in _MAILING_LISTS:
            pool = self._make_paragraphs(mailing_list.sentences, max(60, size // 2))
            self._paragraphs[mailing_list.name] = pool
        headlines = [self._fill(template) for template in _HEADLINE_TEMPLATES for _ in range(3)]
        self._headlines = [(headline, html.escape(headline)) for headline in headlines]

    def _fill(self, template: str) -> str:
        rng = self._rng

        def replace(match: re.Match[str]) -> str:
            choices = _VOCAB[match.group(1)]
            return choices(rng) if callable(choices) else rng.choice(choices)

        text = re.sub(r"\{(\w+)\}", replace, template)
        return text[0].upper() + text[1:]

    def _make_paragraphs(self, sentences: Sequence[str], size: int, *, wrap: bool = True) -> list[str]:
        wrapper = textwrap.TextWrapper(width=72, break_long_words=False, break_on_hyphens=False)
        paragraphs = []
        for _ in range(size):
            count = self._rng.randint(2, 5)
            text = " ".join(self._fill(template) for template in self._rng.sample(sentences, count))
            paragraphs.append(wrapper.fill(text) if wrap else text)
        return paragraphs

    # -- schedule ----------------------------------------------------------

    def schedule(self) -> list[tuple[int, str]]:
        """Draw every message time and kind up front, sorted oldest first."""
        rng = self._rng
        end_local = datetime.fromtimestamp(self._end_ts, _USER_TZ)
        midnight = int(end_local.replace(hour=0, minute=0, second=0).timestamp())
        first_weekday = end_local.weekday()
        # Weekends are quieter, and recent months busier than two years ago.
        day_weights = [
            (0.35 if (first_weekday - day) % 7 >= 5 else 1.0) * (1.5 - day / self._days / 2)
            for day in range(self._days)
        ]
        days = rng.choices(range(self._days), weights=day_weights, k=self._count)
        hours = rng.choices(range(24), weights=_HOUR_WEIGHTS, k=self._count)
        times = []
        for day, hour in zip(days, hours):
            moment = midnight - day * 86400 + hour * 3600 + rng.randrange(3600)
            if moment > self._end_ts:
                moment = self._end_ts - rng.randrange(min(self._days * 86400, 6 * 3600))
            times.append(moment)
        times.sort()
        kinds = rng.choices(_KINDS, weights=_KIND_WEIGHTS, k=self._count)
        return list(zip(times, kinds))

    # -- messages ----------------------------------------------------------

    def run(self) -> Iterator[GeneratedMessage]:
        schedule = self.schedule()
        sent_slots = sum(1 for _, kind in schedule if kind == "sent")
        builders = {
            "conversation": self._conversation, "reply": self._reply, "sent": self._sent,
            "list": self._list_post, "newsletter": self._newsletter,
            "notification": self._notification, "receipt": self._receipt,
        }
        for moment, kind in schedule:
            if kind == "sent":
                sent_slots -= 1
            # Set \Answered only while a later Sent slot is free to carry the reply.
            self._can_reply = len(self._pending) < sent_slots
            yield builders[kind](moment)

    def _next_id(self, domain: str) -> str:
        self._sequence += 1
        rng = self._rng
        style = self._sequence % 3
        if style == 0:
            return f"<{rng.getrandbits(64):016x}.{self._sequence}@{domain}>"
        if style == 1:
            token = base64.b64encode(rng.randbytes(24), b"-_").decode("ascii")
            return f"<CA{token}+{self._sequence}@mail.{domain}>"
        return (f"<{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                f"{rng.getrandbits(16):04x}-{self._sequence:012x}@{domain}>")

    def _pick_contact(self) -> _Contact:
        return self._rng.choices(self._contacts, cum_weights=self._contact_cum)[0]

    def _age_days(self, moment: int) -> float:
        return (self._end_ts - moment) / 86400

    def _flags(self, moment: int, unseen_recent: float, unseen_old: float,
               flagged: float, answered: bool = False) -> tuple[str, ...]:
        rng = self._rng
        age = self._age_days(moment)
        unseen = unseen_recent if age < 14 else unseen_old
        flags = []
        if answered or rng.random() >= unseen:
            flags.append(SEEN)
        if answered:
            flags.append(ANSWERED)
        if rng.random() < flagged:
            flags.append(FLAGGED)
        return tuple(flags)

    def _inbox_or_archive(self, moment: int) -> str:
        if self._age_days(moment) > 60 and self._rng.random() < 0.3:
            return ARCHIVE
        return INBOX

    def _body(self, pool: str, paragraphs: int, greeting_to: _Contact | None, sender: _Contact,
              quote: str | None = None, quoted_from: _Contact | None = None,
              quoted_at: datetime | None = None) -> str:
        rng = self._rng
        parts = []
        if greeting_to is not None and rng.random() < 0.8:
            parts.append(rng.choice(_GREETINGS).format(first=greeting_to.first))
        if quote is not None:
            openers = _FOLLOW_UP_OPENERS if quoted_from is sender else _REPLY_OPENERS
            parts.append(rng.choice(openers))
        pool_items = self._paragraphs[pool]
        parts.extend(rng.sample(pool_items, min(paragraphs, len(pool_items))))
        parts.append(f"{rng.choice(_SIGNOFFS)}\n{sender.first}")
        if sender is not _USER and rng.random() < 0.35:
            parts.append(self._signature(sender))
        text = "\n\n".join(parts)
        if quote is not None and quoted_from is not None and quoted_at is not None:
            quoted_name = quoted_from.name or quoted_from.addr
            text += f"\n\nOn {_format_date(quoted_at)}, {quoted_name} wrote:\n{_quote_text(quote)}"
        return text + "\n"

    def _signature(self, sender: _Contact) -> str:
        rng = self._rng
        company = sender.addr.split("@", 1)[1]
        phone = f"+1 555 01{rng.randint(0, 99):02d}"
        return f"-- \n{sender.name or sender.first}\n{rng.choice(_TITLES)}, {company}\n{phone}"

    def _paragraph_count(self, mean: float, maximum: int) -> int:
        return min(maximum, 1 + int(self._rng.expovariate(1 / mean)))

    def _local_subject(self, sender: _Contact, templates: Sequence[str]) -> str:
        rng = self._rng
        if sender.locale in _LOCAL_SUBJECTS and rng.random() < 0.6:
            return rng.choice(_LOCAL_SUBJECTS[sender.locale])
        if rng.random() < 0.03:
            return rng.choice(_EMOJI_SUBJECTS)
        return self._fill(rng.choice(templates))

    def _reply_subject(self, sender: _Contact, subject: str) -> str:
        # German mailers prefix replies with "AW:", which clients must still thread.
        prefix = "AW: " if sender.locale == "de" and self._rng.random() < 0.5 else "Re: "
        return prefix + subject

    def _maybe_html(self, text: str, eight_bit: bool) -> tuple[list[str], str]:
        """Return a text part, or text plus an HTML alternative as many mailers send."""
        plain = _text_entity(text, eight_bit=eight_bit)
        if self._rng.random() >= 0.5:
            return plain
        blocks = []
        for paragraph in text.rstrip("\n").split("\n\n"):
            if paragraph.startswith(">") or "\n>" in paragraph:
                quoted = "<br>\n".join(html.escape(line.lstrip("> ")) for line in paragraph.split("\n"))
                blocks.append(f'<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;'
                              f'padding-left:1ex">{quoted}</blockquote>')
            elif min(map(len, paragraph.split("\n")[:-1]), default=72) >= 50:
                # Wrapped prose: the line breaks are soft.
                blocks.append(f"<div>{html.escape(paragraph).replace(chr(10), ' ')}</div>")
            else:
                blocks.append(f"<div>{html.escape(paragraph).replace(chr(10), '<br>')}</div>")
        markup = '<div dir="ltr">' + "\n<div><br></div>\n".join(blocks) + "</div>\n"
        return self._multipart("alternative", [plain, _text_entity(markup, "html")])

    def _boundary(self) -> str:
        rng = self._rng
        style = rng.randrange(3)
        if style == 0:
            return f"----=_Part_{self._sequence}_{rng.getrandbits(32)}.{self._end_ts}"
        if style == 1:
            return f"000000000000{rng.getrandbits(64):016x}"
        return f"=_{rng.getrandbits(96):024x}"

    def _multipart(self, subtype: str, parts: Sequence[tuple[list[str], str]]) -> tuple[list[str], str]:
        boundary = self._boundary()
        chunks = []
        if subtype == "mixed" and self._rng.random() < 0.5:
            chunks.append("This is a multi-part message in MIME format.")
        for headers, body in parts:
            chunks.append(f"--{boundary}\n" + "\n".join(headers) + "\n\n" + body)
        text = "\n".join(chunks) + f"\n--{boundary}--\n"
        return [f'Content-Type: multipart/{subtype};\n boundary="{boundary}"'], text

    def _attachment(self, filename: str, content_type: str, data: bytes) -> tuple[list[str], str]:
        # RFC 2047 words inside a quoted name are not standard, but many mailers
        # send them next to the RFC 2231 file name for older readers.
        name_param = _encode_words(filename).replace("\n ", " ") if not filename.isascii() else filename
        headers = [
            f'Content-Type: {content_type};\n name="{name_param}"',
            f"Content-Disposition: attachment;\n {_filename_params(filename)}",
            "Content-Transfer-Encoding: base64",
        ]
        return headers, _base64_body(data)

    def _attachment_size(self, median: int) -> int:
        # Log-normal sizes: most attachments are small, a few pass 100 KB.
        return max(600, min(600_000, int(self._rng.lognormvariate(0, 1.1) * median)))

    def _random_attachment(self, moment: datetime) -> tuple[list[str], str]:
        rng = self._rng
        pattern, content_type = rng.choice(_CONVERSATION_ATTACHMENTS)
        filename = pattern.format(date=f"{moment.year}-{moment.month:02d}-{moment.day:02d}")
        size = self._attachment_size(18_000)
        if content_type == "image/png":
            width = rng.randrange(120, 640, 8)
            height = max(16, min(900, size // (width * 3)))
            return self._attachment(filename, content_type, _make_png(rng, width, height))
        paragraphs = rng.sample(self._paragraphs["work"], 3)
        body_lines = [line for paragraph in paragraphs for line in paragraph.split("\n")]
        return self._attachment(filename, content_type, _make_pdf(body_lines, rng.randbytes(size)))

    # -- renderers ---------------------------------------------------------

    def _render(self, draft: _Draft, moment: int, folder: str, flags: tuple[str, ...]) -> GeneratedMessage:
        date = datetime.fromtimestamp(moment, draft.sender.tz)
        lines = []
        if draft.incoming:
            lines.extend(self._trace_headers(draft.sender, moment))
        if draft.dkim_domain:
            lines.append(self._dkim(draft.dkim_domain))
        lines.append(f"From: {draft.sender.header}")
        lines.append(f"To: {_address_list(draft.to)}")
        if draft.cc:
            lines.append(f"Cc: {_address_list(draft.cc)}")
        lines.append(f"Subject: {_header_text(draft.subject)}")
        lines.append(f"Date: {_format_date(date)}")
        lines.append(f"Message-ID: {draft.message_id}")
        if draft.in_reply_to:
            lines.append(f"In-Reply-To: {draft.in_reply_to}")
        if draft.references:
            lines.append("References: " + "\n ".join(draft.references))
        lines.extend(draft.extra)
        lines.append("MIME-Version: 1.0")
        headers, body = draft.entity
        lines.extend(headers)
        if draft.sender.mailer:
            lines.append(f"X-Mailer: {draft.sender.mailer}")
        text = "\n".join(lines) + "\n\n" + body
        raw = text.replace("\n", "\r\n").encode("utf-8")
        return GeneratedMessage(folder=folder, flags=flags, date=date, raw=raw)

    def _trace_headers(self, sender: _Contact, moment: int) -> list[str]:
        rng = self._rng
        domain = sender.addr.split("@", 1)[1]
        sent_at = datetime.fromtimestamp(moment + rng.randint(0, 3), sender.tz)
        received_at = datetime.fromtimestamp(moment + rng.randint(4, 40), timezone.utc)
        # Documentation address blocks from RFC 5737.
        ip = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
        return [
            f"Return-Path: <{sender.addr}>",
            f"Delivered-To: {USER_ADDR}",
            f"Received: from mail.{domain} (mail.{domain} [{ip}])\n\tby mx.example.com (Postfix)"
            f" with ESMTPS id {rng.getrandbits(40):010X}\n\tfor <{USER_ADDR}>; {_format_date(received_at)}",
            f"Authentication-Results: mx.example.com;\n\tdkim=pass header.d={domain};\n"
            f"\tspf=pass smtp.mailfrom={sender.addr};\n\tdmarc=pass header.from={domain}",
            f"Received: from [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}]"
            f" by mail.{domain} with ESMTPSA id {rng.getrandbits(48):012x};\n\t{_format_date(sent_at)}",
        ]

    def _dkim(self, domain: str) -> str:
        rng = self._rng
        body_hash = base64.b64encode(rng.randbytes(32)).decode("ascii")
        signature = base64.b64encode(rng.randbytes(256)).decode("ascii")
        folded = "\n\t ".join(signature[i:i + 70] for i in range(0, len(signature), 70))
        return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};\n\ts=mail2026;"
                f" h=from:to:subject:date:message-id;\n\tbh={body_hash};\n\tb={folded}")

    # -- conversations -----------------------------------------------------

    def _conversation(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        sender = self._pick_contact()
        copied = [self._pick_contact() for _ in range(rng.choice((0, 0, 0, 1, 2, 3)))]
        others = [contact for contact in copied if contact is not sender]
        personal = sender.addr.split("@", 1)[1] in _PERSONAL_DOMAINS
        pool = "personal" if personal else "work"
        subject = self._local_subject(sender, _PERSONAL_SUBJECTS if personal else _WORK_SUBJECTS)
        text = self._body(pool, self._paragraph_count(2.2, 8), _USER, sender)
        entity = self._maybe_html(text, eight_bit=rng.random() < 0.3)
        date = datetime.fromtimestamp(moment, sender.tz)
        if rng.random() < 0.2:
            entity = self._multipart("mixed", [entity, self._random_attachment(date)])

        message_id = self._next_id(sender.addr.split("@", 1)[1])
        thread = _Thread(subject, pool, [sender, _USER, *others], [message_id], sender, text, moment,
                         remaining=int(rng.expovariate(1 / 3)))
        self._add_thread(self._threads, thread)
        draft = _Draft(sender, [_USER.header], subject, entity, message_id, cc=[c.header for c in others])
        return self._receive(draft, thread, moment, text)

    def _receive(self, draft: _Draft, thread: _Thread, moment: int, text: str) -> GeneratedMessage:
        """Render an incoming conversation message and maybe queue a reply from the user."""
        answered = self._can_reply and self._age_days(moment) > 0.2 and self._rng.random() < 0.3
        if answered:
            references = tuple(draft.references) + (draft.message_id,)
            self._pending.append(_Pending(thread, draft.message_id, references, draft.sender, text, moment))
        flags = self._flags(moment, 0.35, 0.02, 0.06, answered)
        return self._render(draft, moment, self._inbox_or_archive(moment), flags)

    def _add_thread(self, threads: list[_Thread], thread: _Thread) -> None:
        threads.append(thread)
        if len(threads) > _MAX_ACTIVE_THREADS:
            del threads[0]

    def _pick_thread(self, threads: list[_Thread], moment: int) -> _Thread | None:
        """Pick a live thread, preferring recent ones, and forget threads gone quiet."""
        threads[:] = [t for t in threads if t.remaining > 0 and moment - t.last_time < _THREAD_IDLE_SECONDS]
        if not threads:
            return None
        back = min(len(threads) - 1, int(self._rng.expovariate(1 / 4)))
        return threads[-1 - back]

    def _reply(self, moment: int) -> GeneratedMessage:
        thread = self._pick_thread(self._threads, moment)
        if thread is None:
            return self._conversation(moment)

        rng = self._rng
        candidates = [c for c in thread.participants if c is not _USER and c is not thread.last_sender]
        sender = rng.choice(candidates) if candidates else thread.last_sender
        # A sender following up on their own message writes to the user.
        recipient = thread.last_sender if thread.last_sender is not sender else _USER
        quoted_at = datetime.fromtimestamp(thread.last_time, thread.last_sender.tz)
        text = self._body(thread.pool, self._paragraph_count(0.8, 4), recipient, sender,
                          thread.last_body, thread.last_sender, quoted_at)
        entity = self._maybe_html(text, eight_bit=rng.random() < 0.3)
        if rng.random() < 0.05:
            date = datetime.fromtimestamp(moment, sender.tz)
            entity = self._multipart("mixed", [entity, self._random_attachment(date)])
        to = [recipient.header]
        cc = [c.header for c in thread.participants if c is not sender and c is not recipient]
        message_id = self._next_id(sender.addr.split("@", 1)[1])
        references = _trim_references(thread.message_ids)
        draft = _Draft(sender, to, self._reply_subject(sender, thread.subject), entity, message_id,
                       cc=cc, in_reply_to=thread.message_ids[-1], references=references)
        self._advance(thread, message_id, sender, text, moment)
        return self._receive(draft, thread, moment, text)

    def _advance(self, thread: _Thread, message_id: str, sender: _Contact, text: str, moment: int) -> None:
        thread.message_ids.append(message_id)
        thread.last_sender = sender
        thread.last_body = text
        thread.last_time = moment
        thread.remaining -= 1

    def _sent(self, moment: int) -> GeneratedMessage:
        if self._pending:
            return self._answer(self._pending.popleft(), moment)

        rng = self._rng
        recipient = self._pick_contact()
        subject = self._fill(rng.choice(_WORK_SUBJECTS))
        text = self._body("work", self._paragraph_count(1.8, 6), recipient, _USER)
        entity = self._maybe_html(text, eight_bit=False)
        if rng.random() < 0.08:
            attachment = self._random_attachment(datetime.fromtimestamp(moment, _USER_TZ))
            entity = self._multipart("mixed", [entity, attachment])
        message_id = self._next_id("example.com")
        thread = _Thread(subject, "work", [_USER, recipient], [message_id], _USER, text, moment,
                         remaining=int(rng.expovariate(1 / 2)))
        self._add_thread(self._threads, thread)
        draft = _Draft(_USER, [recipient.header], subject, entity, message_id, incoming=False)
        return self._render(draft, moment, SENT, (SEEN,))

    def _answer(self, pending: _Pending, moment: int) -> GeneratedMessage:
        thread = pending.thread
        quoted_at = datetime.fromtimestamp(pending.moment, pending.sender.tz)
        text = self._body("work", self._paragraph_count(0.6, 3), pending.sender, _USER,
                          pending.body, pending.sender, quoted_at)
        cc = [c.header for c in thread.participants if c is not _USER and c is not pending.sender]
        message_id = self._next_id("example.com")
        draft = _Draft(_USER, [pending.sender.header], f"Re: {thread.subject}", self._maybe_html(text, False),
                       message_id, cc=cc, in_reply_to=pending.message_id,
                       references=_trim_references(pending.references), incoming=False)
        self._advance(thread, message_id, _USER, text, moment)
        thread.remaining += 1  # others often react to the user's reply
        return self._render(draft, moment, SENT, (SEEN,))

    # -- mailing lists -----------------------------------------------------

    def _list_post(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        mailing_list = rng.choices(_MAILING_LISTS, weights=_LIST_WEIGHTS)[0]
        members = self._list_members[mailing_list.name]
        sender = rng.choices(members, cum_weights=self._list_cum[mailing_list.name])[0]
        threads = self._list_threads[mailing_list.name]
        thread = self._pick_thread(threads, moment) if rng.random() < 0.65 else None
        message_id = self._next_id(sender.addr.split("@", 1)[1])

        if thread is None:
            subject = self._fill(rng.choice(mailing_list.subjects))
            text = self._body(mailing_list.name, self._paragraph_count(1.5, 6), None, sender)
            thread = _Thread(subject, mailing_list.name, [sender], [message_id], sender, text, moment,
                             remaining=int(rng.expovariate(1 / 5)))
            self._add_thread(threads, thread)
            subject = mailing_list.subject_prefix + subject
            in_reply_to, references = None, []
        else:
            quoted_at = datetime.fromtimestamp(thread.last_time, thread.last_sender.tz)
            text = self._body(mailing_list.name, self._paragraph_count(1.0, 4), None, sender,
                              thread.last_body, thread.last_sender, quoted_at)
            subject = "Re: " + mailing_list.subject_prefix + thread.subject
            in_reply_to, references = thread.message_ids[-1], _trim_references(thread.message_ids)
            self._advance(thread, message_id, sender, text, moment)
            if sender not in thread.participants:
                thread.participants.append(sender)

        # The list server appends this footer, so quotes in later replies leave it out.
        footer = (f"\n_______________________________________________\n"
                  f"{mailing_list.name} mailing list -- {mailing_list.address}\n"
                  f"To unsubscribe send an email to {mailing_list.name}-leave@lists.example.org\n")
        draft = _Draft(sender, [mailing_list.address], subject, _text_entity(text + footer), message_id,
                       in_reply_to=in_reply_to, references=references, extra=self._list_headers(mailing_list))
        flags = self._flags(moment, 0.6, 0.15, 0.01)
        return self._render(draft, moment, mailing_list.folder, flags)

    def _list_headers(self, mailing_list: _MailingList) -> list[str]:
        archive = f"https://lists.example.org/archives/list/{mailing_list.list_id}/"
        owner = f"{mailing_list.name}-owner@lists.example.org"
        return [
            f"Sender: {mailing_list.name}-bounces@lists.example.org",
            "Precedence: list",
            f"List-Id: {mailing_list.description} <{mailing_list.list_id}>",
            f"List-Archive: <{archive}>",
            f"List-Help: <mailto:{mailing_list.name}-request@lists.example.org?subject=help>",
            f"List-Owner: <mailto:{owner}>",
            f"List-Post: <mailto:{mailing_list.address}>",
            f"List-Subscribe: <mailto:{mailing_list.name}-join@lists.example.org>",
            f"List-Unsubscribe: <mailto:{mailing_list.name}-leave@lists.example.org>",
        ]

    # -- bulk mail ---------------------------------------------------------

    def _service_contact(self, service: _Service) -> _Contact:
        return _Contact(service.name, service.name, service.addr, service.locale, timezone.utc, "",
                        _format_address(service.name, service.addr))

    def _newsletter(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        service = rng.choices(_NEWSLETTERS, weights=_NEWSLETTER_WEIGHTS)[0]
        sender = self._service_contact(service)
        articles = [(*rng.choice(self._headlines), *rng.choice(self._news)) for _ in range(rng.randint(4, 10))]
        subject = self._newsletter_subject(service, articles[0][0])
        token = f"{rng.getrandbits(48):012x}"
        domain = service.addr.split("@", 1)[1]
        unsubscribe = f"https://{domain}/unsubscribe/{token}"

        text_parts = [f"{service.name}\n{'=' * len(service.name)}"]
        for headline, _, _, wrapped in articles:
            text_parts.append(f"{headline}\n\n{wrapped}\n\nRead more: https://{domain}/r/{token}")
        text_parts.append(f"You receive this because you subscribed with {USER_ADDR}.\n"
                          f"Unsubscribe: {unsubscribe}")
        text = "\n\n".join(text_parts) + "\n"
        markup = self._newsletter_html(service, subject, articles, domain, token, unsubscribe)
        entity = self._multipart("alternative", [_text_entity(text), _text_entity(markup, "html")])

        extra = [
            f"List-Id: {service.name} <newsletter.{domain}>",
            f"List-Unsubscribe: <{unsubscribe}>, <mailto:unsubscribe-{token}@{domain}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: list",
        ]
        draft = _Draft(sender, [USER_ADDR], subject, entity, self._next_id(domain), extra=extra)
        return self._render_bulk(draft, moment, domain, self._flags(moment, 0.5, 0.08, 0.01))

    def _newsletter_subject(self, service: _Service, headline: str) -> str:
        rng = self._rng
        if service.name == "DevPulse":
            return f"DevPulse #{rng.randint(100, 400)}: {headline}"
        if service.name == "Brightwater Travel":
            return rng.choice(("✈️ ", "🌍 ", "")) + headline
        if service.name == "Fjordline Outdoor":
            sale = f"{rng.randint(10, 40)}% off rain jackets this weekend"
            return rng.choice((sale, "🏕️ New in: lightweight tents", headline))
        return f"{service.name}: {headline}"

    def _newsletter_html(self, service: _Service, subject: str, articles: Sequence[tuple[str, str, str, str]],
                         domain: str, token: str, unsubscribe: str) -> str:
        cell = ('style="padding:24px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;'
                'line-height:24px;color:#333333"')
        heading = 'style="margin:0 0 12px;font-size:22px;line-height:28px;color:#1a3c5e"'
        button = ('style="display:inline-block;padding:10px 18px;background:#1a73a8;color:#ffffff;'
                  'text-decoration:none;border-radius:4px"')
        rows = []
        # Articles carry the headline and paragraph already HTML-escaped.
        for number, (_, headline, paragraph, _) in enumerate(articles):
            rows.append(
                f'<tr><td class="article" {cell}>\n'
                f'<h2 {heading}>{headline}</h2>\n'
                f'<p style="margin:0 0 16px">{paragraph}</p>\n'
                f'<a href="https://{domain}/r/{token}/{number}" {button}>Read more</a>\n'
                f'</td></tr>'
            )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(subject)}</title>\n"
            "<style>body{margin:0;padding:0;background:#f4f4f4}.article h2{font-weight:600}"
            "@media (max-width:600px){.article{padding:16px!important}}</style></head>\n"
            '<body><table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'style="background:#f4f4f4"><tr><td align="center">\n'
            '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
            'style="background:#ffffff">\n'
            f'<tr><td style="padding:24px 32px;background:#1a3c5e;color:#ffffff;font-size:26px">'
            f"{html.escape(service.name)}</td></tr>\n"
            + "\n".join(rows)
            + f'\n<tr><td style="padding:24px 32px;font-size:12px;color:#888888">You receive this because '
            f'you subscribed with {USER_ADDR}. '
            f'<a href="{unsubscribe}" style="color:#888888">Unsubscribe</a></td></tr>\n'
            f'</table><img src="https://{domain}/o/{token}.gif" width="1" height="1" alt="">\n'
            "</td></tr></table></body></html>\n"
        )

    def _render_bulk(self, draft: _Draft, moment: int, domain: str,
                     flags: tuple[str, ...]) -> GeneratedMessage:
        # Bulk senders sign their mail with DKIM.
        draft.dkim_domain = domain
        return self._render(draft, moment, self._inbox_or_archive(moment), flags)

    def _notification(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        builder = rng.choices(
            (self._forge_notice, self._calendar_notice, self._security_notice, self._shipping_notice,
             self._document_notice, self._storage_notice),
            weights=(10, 4, 1, 2, 3, 1),
        )[0]
        service, subject, text, extra = builder(moment)
        sender = self._service_contact(service)
        domain = service.addr.split("@", 1)[1]
        entity = _text_entity(text)
        if rng.random() < 0.7:
            markup = _notification_html(service.name, subject, text)
            entity = self._multipart("alternative", [entity, _text_entity(markup, "html")])
        draft = _Draft(sender, [_USER.header], subject, entity, self._next_id(domain),
                       extra=["Auto-Submitted: auto-generated", *extra])
        return self._render_bulk(draft, moment, domain, self._flags(moment, 0.45, 0.04, 0.01))

    def _forge_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        rng = self._rng
        repo = rng.choice(("harbor/api", "harbor/web", "atlas/engine", "tools/release-scripts"))
        commit = f"{rng.getrandbits(28):07x}"
        number = rng.randint(100, 2400)
        title = self._fill(rng.choice(("Fix {thing} in the {project} exporter", "Update the {topic} docs",
                                        "Speed up {module} imports", "Add a retry to the invoice upload")))
        service = _Service("Forge", "notifications@forge.example.com", "notification")
        if rng.random() < 0.4:
            subject = f"[{repo}] Build failed: main ({commit})"
            text = (f"The build for commit {commit} on main failed.\n\n"
                    f"Failed job: test ({rng.choice(('linux', 'windows', 'macos'))})\n"
                    f"Duration: {rng.randint(2, 40)} minutes\n\n"
                    f"View the log: https://forge.example.com/{repo}/builds/{number}\n")
        else:
            person = self._pick_contact()
            subject = f"[{repo}] {title} (PR #{number})"
            text = (f"{person.name or person.addr} requested your review on pull request #{number}.\n\n"
                    f"{title}\n\n{rng.choice(self._paragraphs['work'])}\n\n"
                    f"Reply to this email or view it on Forge:\n"
                    f"https://forge.example.com/{repo}/pull/{number}\n")
        extra = [f"List-Id: {repo} <{repo.replace('/', '.')}.forge.example.com>"]
        return service, subject, text, extra

    def _calendar_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        rng = self._rng
        event = self._fill(rng.choice(("{project} weekly sync", "{topic} review", "Budget meeting",
                                        "Release planning", "Conference prep")))
        start = datetime.fromtimestamp(moment + 900, _USER_TZ)
        when = f"{_WEEKDAY_NAMES[start.weekday()]} {start.hour:02d}:{start.minute // 15 * 15:02d}"
        service = _Service("Calendar", "calendar-noreply@calendar.example.com", "notification")
        text = (f"Reminder: {event}\n\nWhen: {when} (UTC+01:00)\nWhere: {self._fill('{place}')}\n"
                f"Organizer: {self._pick_contact().addr}\n\nYou are receiving this reminder because "
                f"you accepted this meeting.\n")
        return service, f"Reminder: {event} @ {when}", text, []

    def _security_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        rng = self._rng
        device = rng.choice(("a new laptop", "a phone", "a tablet", "a browser on Linux"))
        service = _Service("Example Account Team", "no-reply@accounts.example.com", "notification")
        text = (f"We noticed a new sign-in to your account from {device}.\n\n"
                f"If this was you, you can ignore this message. If not, change your password at "
                f"https://accounts.example.com/security and turn on two-step sign-in.\n")
        return service, "Security alert: new sign-in to your account", text, []

    def _shipping_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        rng = self._rng
        order = f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}"
        service = _Service("Cedar Books", "ship-confirm@cedarbooks.example", "notification")
        text = (f"Good news: your order {order} has shipped.\n\nCarrier: Parcel Express\n"
                f"Tracking number: PX{rng.getrandbits(40):012d}\n"
                f"Expected delivery: {self._fill('{weekday}')}\n\n"
                f"Track your package: https://cedarbooks.example/orders/{order}\n")
        return service, f"Your order {order} has shipped", text, []

    def _document_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        rng = self._rng
        person = self._pick_contact()
        document = self._fill("{project} {document}")
        service = _Service(f"{person.name or person.first} (via Docs)", "comments-noreply@docs.example.com",
                           "notification")
        text = (f"{person.name or person.addr} commented on \u201c{document}\u201d:\n\n"
                f"{rng.choice(self._paragraphs['work'])}\n\nOpen the document: "
                f"https://docs.example.com/d/{rng.getrandbits(64):016x}\n")
        return service, f"New comment on \u201c{document}\u201d", text, []

    def _storage_notice(self, moment: int) -> tuple[_Service, str, str, list[str]]:
        percent = self._rng.choice((80, 90, 95))
        service = _Service("Example Cloud", "noreply@cloud.example.net", "notification")
        text = (f"Your storage is {percent}% full.\n\nWhen it is full, new files and mail will not sync. "
                f"Free up space or upgrade your plan at https://cloud.example.net/storage\n")
        return service, f"Your storage is {percent}% full", text, []

    def _receipt(self, moment: int) -> GeneratedMessage:
        builder = self._rng.choices((self._invoice, self._store_receipt), weights=(1, 1))[0]
        return builder(moment)

    def _invoice(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        date = datetime.fromtimestamp(moment, timezone.utc)
        number = f"INV-{date.year}-{rng.randint(1, 9999):04d}"
        service, filename, subject = _invoice_vendor(date, number, german=rng.random() < 0.3)

        items = [
            (self._fill("{project} hosting plan"), rng.randrange(2900, 49000)),
            ("Support package", rng.randrange(5000, 40000)),
            ("Backup storage", rng.randrange(200, 1500)),
        ]
        total = sum(cents for _, cents in items)
        lines = [f"Invoice {number}", f"Date: {date.day} {_MONTH_NAMES[date.month - 1]} {date.year}", ""]
        lines += [f"{item:<40}{f'${cents / 100:,.2f}':>12}" for item, cents in items]
        lines += ["", f"{'Total due':<40}{f'${total / 100:,.2f}':>12}", "Payment due within 30 days."]
        text = (f"Hello {USER_NAME},\n\nThank you for your business. Your invoice {number} for\n"
                f"${total / 100:,.2f} is attached.\n\n" + "\n".join(lines) + "\n\nBilling team\n")

        pdf = _make_pdf(lines, rng.randbytes(self._attachment_size(6000)))
        attachment = self._attachment(filename, "application/pdf", pdf)
        entity = self._multipart("mixed", [_text_entity(text), attachment])
        domain = service.addr.split("@", 1)[1]
        draft = _Draft(self._service_contact(service), [_USER.header], subject, entity, self._next_id(domain))
        return self._render_bulk(draft, moment, domain, self._flags(moment, 0.3, 0.02, 0.08))

    def _store_receipt(self, moment: int) -> GeneratedMessage:
        rng = self._rng
        order = f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        products = [(f"{rng.choice(_BOOKS)} (paperback)", rng.randrange(899, 2499)),
                    ("Reading light", 1999), ("Notebook, dotted, A5", 1250), ("Gift wrap", 300),
                    ("Canvas tote bag", 1500)]
        chosen = rng.sample(products, rng.randint(1, 4))
        subtotal = sum(price for _, price in chosen)
        tax = subtotal * 8 // 100
        rows = [f"  {name:<42}1  ${price / 100:>8.2f}" for name, price in chosen]
        text = ("Thank you for your order!\n\n"
                f"Receipt for order {order}\n\n  {'Item':<42}Qty     Price\n" + "\n".join(rows)
                + f"\n\n  {'Subtotal':<45}${subtotal / 100:>8.2f}\n  {'Tax':<45}${tax / 100:>8.2f}\n"
                f"  {'Total':<45}${(subtotal + tax) / 100:>8.2f}\n\nQuestions? Reply to this receipt.\n")
        service = _Service("Cedar Books", "receipts@cedarbooks.example", "receipt")
        sender = self._service_contact(service)
        draft = _Draft(sender, [USER_ADDR], f"Your receipt from Cedar Books #{order}", _text_entity(text),
                       self._next_id("cedarbooks.example"))
        return self._render_bulk(draft, moment, "cedarbooks.example", self._flags(moment, 0.3, 0.02, 0.03))


def generate(count: int, seed: int = 1, *, start: datetime | None = None,
             days: int = DEFAULT_DAYS) -> Iterator[GeneratedMessage]:
    """Generate `count` messages, oldest first.

    Args:
        count: Number of messages to yield.
        seed: Seed of the random generator; the same arguments give the same bytes.
        start: Newest possible message time, timezone-aware. Messages spread over
            the `days` before it. Defaults to DEFAULT_START (2026-11-30 09:00 UTC).
        days: Length of the period in days.

    Raises:
        ValueError: If count is negative, days is less than 1 or start is naive.
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    end = DEFAULT_START if start is None else start
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got {end.isoformat()}. "
                         "Pass tzinfo=timezone.utc, for example")
    if count == 0:
        return iter(())
    return _Generator(count, seed, end, days).run()


# ---------------------------------------------------------------------------
# The demo mailbox.

_WELCOME_TEXT = """\
Hi Alex,

This is the Sluice demo mailbox; nothing here is sent anywhere, and no
message in it came from a real person. A program made up every message,
name and company, and all addresses use reserved example domains.

From here you can look around as you would in a real heavy inbox:

- Search for words such as budget, invoice, meeting, release or
  conference.
- Open the folders under Lists for three mailing lists, Sent for mail
  written as Alex Morgan, and Archive for older mail.
- Look for long threads with several people, newsletters, receipts with
  PDF invoices, and subjects in German, French, Japanese, Chinese and
  Russian.

The mailbox holds {count} messages from the two years before
30 November 2026. It was made with

    python -m desktop.mailgen --demo-out resources/demo

and stays the same until that command changes.

The Sluice demo
"""


def welcome_message(count: int, moment: datetime = DEFAULT_START) -> GeneratedMessage:
    """Build the demo's welcome message from "Sluice", dated `moment`."""
    sender = _format_address("Sluice", "welcome@sluice.example")
    date = moment.astimezone(_USER_TZ)
    headers, body = _text_entity(_WELCOME_TEXT.format(count=count))
    lines = [
        f"From: {sender}",
        f"To: {_USER.header}",
        "Subject: Welcome to the Sluice demo mailbox",
        f"Date: {_format_date(date)}",
        "Message-ID: <demo-welcome@sluice.example>",
        "MIME-Version: 1.0",
        *headers,
    ]
    raw = ("\n".join(lines) + "\n\n" + body).replace("\n", "\r\n").encode("ascii")
    return GeneratedMessage(folder=INBOX, flags=(), date=date, raw=raw)


def demo_messages(count: int = DEMO_COUNT, seed: int = DEMO_SEED) -> list[GeneratedMessage]:
    """Return the demo mailbox: `count - 1` generated messages and the welcome message."""
    if count < 1:
        raise ValueError(f"the demo needs at least 1 message for the welcome text, got count={count}")
    messages = list(generate(count - 1, seed))
    messages.append(welcome_message(count))
    return messages


# ---------------------------------------------------------------------------
# Writers and readers.


def _maildir_folder(root: Path, folder: str) -> Path:
    """Map a folder path to its Maildir++ directory: INBOX is the root, "A/B" is ".A.B"."""
    if folder == INBOX:
        return root
    parts = folder.split("/")
    if any(not part or "." in part for part in parts):
        raise ValueError(f"folder {folder!r} cannot be stored in Maildir++. "
                         "Use '/'-separated names without dots")
    return root / ("." + ".".join(parts))


def _maildir_info(flags: Iterable[str]) -> str:
    letters = sorted(_MAILDIR_FLAG_LETTERS[flag] for flag in flags if flag in _MAILDIR_FLAG_LETTERS)
    return ":2," + "".join(letters)


def write_maildir(messages: Iterable[GeneratedMessage], root: Path) -> int:
    """Write `messages` into a Maildir++ tree at `root` and return how many were written.

    INBOX is `root` itself and "Lists/python-dev" becomes `root/.Lists.python-dev`.
    Files go to cur/ with the flags in the ":2," info suffix, and their mtime is
    the message date. The raw bytes are written unchanged, with CRLF line ends,
    which Dovecot accepts in Maildir files.
    """
    root = Path(root)
    created: set[Path] = set()
    written = 0
    for index, message in enumerate(messages):
        folder = _maildir_folder(root, message.folder)
        if folder not in created:
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            if folder != root:
                (folder / "maildirfolder").touch()
            created.add(folder)
        timestamp = int(message.date.timestamp())
        size = len(message.raw)
        name = f"{timestamp}.M{index}P0.mailgen,S={size},W={size}{_maildir_info(message.flags)}"
        path = folder / "cur" / name
        path.write_bytes(message.raw)
        os.utime(path, (timestamp, timestamp))
        written += 1
    logger.debug("Wrote %d messages to Maildir %s", written, root)
    return written


_FROM_QUOTED = re.compile(rb"^(>*From )", re.MULTILINE)
_FROM_UNQUOTE = re.compile(rb"^>(>*From )", re.MULTILINE)
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")


_SENDER_ADDR = re.compile(rb"^From:[^\r]*?<?([^<>\s\"]+@[^<>\s\"]+?)>?\r$", re.MULTILINE)


def _from_line(message: GeneratedMessage) -> bytes:
    header = message.raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    match = _SENDER_ADDR.search(header)
    sender = match.group(1).decode("ascii", "replace") if match else "MAILER-DAEMON"
    moment = message.date.astimezone(timezone.utc)
    stamp = (f"{_WEEKDAY_NAMES[moment.weekday()]} {_MONTH_NAMES[moment.month - 1]} {moment.day:2d} "
             f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {moment.year}")
    return f"From {sender} {stamp}\n".encode("ascii")


def write_mbox(messages: Iterable[GeneratedMessage], path: Path) -> int:
    """Write `messages` to one mboxrd file at `path` and return how many were written.

    Each message starts with two extra headers, "X-Sluice-Folder" and
    "X-Sluice-Flags", that carry its folder and flags. Importers remove them.
    Line ends are LF, as mbox files use, and `read_demo_mbox` restores CRLF.

    Raises:
        ValueError: If a message contains a CR or LF that is not part of a
            CRLF pair, because the round trip could not restore it.
    """
    written = 0
    with Path(path).open("wb") as out:
        for message in messages:
            if _BARE_LINE_END.search(message.raw):
                raise ValueError(f"message {written} has a bare CR or LF, "
                                 "but write_mbox needs CRLF line ends")
            if not message.raw.endswith(b"\r\n"):
                raise ValueError(f"message {written} does not end with CRLF")
            folder = f"{FOLDER_HEADER}: {message.folder}\n".encode("utf-8")
            flags = f"{FLAGS_HEADER}:{''.join(' ' + flag for flag in message.flags)}\n".encode("ascii")
            body = _FROM_QUOTED.sub(rb">\1", message.raw.replace(b"\r\n", b"\n"))
            out.write(_from_line(message) + folder + flags + body + b"\n")
            written += 1
    logger.debug("Wrote %d messages to mbox %s", written, path)
    return written


def _parse_demo_entry(lines: list[bytes], path: Path, number: int) -> GeneratedMessage:
    if lines and lines[-1] == b"\n":
        lines = lines[:-1]  # the blank line that separates mbox messages
    if len(lines) < 2:
        raise ValueError(f"{path}: message {number} is truncated")
    folder_line, flags_line = lines[0].decode("utf-8"), lines[1].decode("ascii")
    if not folder_line.startswith(f"{FOLDER_HEADER}:") or not flags_line.startswith(f"{FLAGS_HEADER}:"):
        raise ValueError(f"{path}: message {number} does not start with {FOLDER_HEADER} and "
                         f"{FLAGS_HEADER} headers; write the file with write_mbox")
    folder = folder_line.split(":", 1)[1].strip()
    flags = tuple(flags_line.split(":", 1)[1].split())
    raw = b"".join(lines[2:]).replace(b"\n", b"\r\n")
    match = re.search(rb"^Date: (.+)\r$", raw.split(b"\r\n\r\n", 1)[0], re.MULTILINE)
    if match is None:
        raise ValueError(f"{path}: message {number} has no Date header")
    date = parsedate_to_datetime(match.group(1).decode("ascii"))
    return GeneratedMessage(folder=folder, flags=flags, date=date, raw=raw)


def read_demo_mbox(path: Path) -> Iterator[GeneratedMessage]:
    """Read an mboxrd file written by `write_mbox`, yielding messages as generated.

    The folder and flags headers are removed, ">From " quoting is undone and
    line ends go back to CRLF, so the raw bytes equal the generator's output.

    Raises:
        ValueError: If the file does not start with a "From " line or a
            message lacks the folder and flags headers.
    """
    path = Path(path)
    with path.open("rb") as source:
        lines: list[bytes] | None = None
        number = 0
        for line in source:
            if line.startswith(b"From "):
                if lines is not None:
                    yield _parse_demo_entry(lines, path, number)
                    number += 1
                lines = []
                continue
            if lines is None:
                raise ValueError(f"{path} is not an mbox file: the first line must start with 'From '")
            lines.append(_FROM_UNQUOTE.sub(rb"\1", line))
        if lines is not None:
            yield _parse_demo_entry(lines, path, number)


# ---------------------------------------------------------------------------
# Command line.


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m desktop.mailgen",
        description="Generate a realistic, reproducible mailbox.",
    )
    parser.add_argument("--count", type=int,
                        help=f"number of messages (default 1000, or {DEMO_COUNT} with --demo-out)")
    parser.add_argument("--seed", type=int, help=f"random seed (default 1, or {DEMO_SEED} with --demo-out)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help="length of the period in days, ignored with --demo-out (default %(default)s)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--maildir", type=Path, help="write a Maildir++ tree rooted at this directory")
    target.add_argument("--mbox", type=Path, help="write one mboxrd file with folder and flags headers")
    target.add_argument("--demo-out", type=Path,
                        help=f"write the demo mailbox as {DEMO_FILE_NAME} into this directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parse_args(argv)
    started = time.perf_counter()
    if args.demo_out is not None:
        count = DEMO_COUNT if args.count is None else args.count
        seed = DEMO_SEED if args.seed is None else args.seed
        args.demo_out.mkdir(parents=True, exist_ok=True)
        target = args.demo_out / DEMO_FILE_NAME
        written = write_mbox(demo_messages(count, seed), target)
    else:
        count = 1000 if args.count is None else args.count
        seed = 1 if args.seed is None else args.seed
        messages = generate(count, seed, days=args.days)
        if args.maildir is not None:
            target = args.maildir
            written = write_maildir(messages, target)
        else:
            target = args.mbox
            written = write_mbox(messages, target)
    elapsed = time.perf_counter() - started
    rate = written / elapsed if elapsed > 0 else float("inf")
    print(f"Wrote {written} messages to {target} in {elapsed:.2f} s ({rate:,.0f} messages/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

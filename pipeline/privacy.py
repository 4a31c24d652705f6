"""Privacy by design: keyed pseudonyms instead of BSNs, and scrubbing of free text.

The scrubber is built to take time linear in the length of the text, whatever the text:
every pattern starts behind a guard (a look-behind that fails inside a run of the
characters the pattern starts with), so a run is tried once and not from each of its
characters, and no pattern nests one unbounded repetition in another. Adversarial inputs
("a." * 500_000, long digit runs, "1 " * 500_000) are part of the tests.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


_BSN_SHAPE = re.compile(r"[0-9]{8,9}")


def normalise_bsn(value: str) -> str:
    """Nine ASCII digits: an 8-digit BSN is the same number with a leading zero."""
    return value.strip().zfill(9)


def is_valid_bsn(value: str) -> bool:
    """The 'elfproef' that every BSN passes."""
    if not _BSN_SHAPE.fullmatch(value.strip()):
        return False
    digits = normalise_bsn(value)
    if digits == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(digits, _BSN_WEIGHTS, strict=True)) % 11 == 0


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of a short message without letting go of the GIL.

    The one-shot `hmac.digest` releases the GIL for every message, however short: on the
    web edge's event loop (a pseudonym per request) each call then waits for another
    thread (the Kafka producer's, the group commit's) to hand the GIL back, up to the
    switch interval (5 ms). `hmac.new` keeps it for messages under 2 KiB; same digest.
    """
    return hmac.new(key, message, "sha256").digest()


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms: stable per key, not reversible without it."""

    def __init__(self, key: str | bytes):
        self._key = key.encode() if isinstance(key, str) else key

    def klant(self, identifier: str, kind: str = "bsn") -> str:
        digest = _hmac_sha256(self._key, f"{kind}:{identifier.strip()}".encode())
        return "k-" + digest.hex()[:32]

    def actor(self, name: str) -> str:
        """An employee or system name as a stable pseudonym (names are personal data too)."""
        digest = _hmac_sha256(self._key, f"actor:{name.strip()}".encode())
        return "m-" + digest.hex()[:16]


class RotatingPseudonymiser(Pseudonymiser):
    """Pseudonyms under a rotated key that keep joins: a citizen already known under one of
    the previous keys (`known`: has data, e.g. a contact in the warehouse) keeps that
    pseudonym; new citizens get the current key's. When the old data has expired, drop the
    old key: from then on everyone gets the current key's pseudonym."""

    def __init__(self, key: str | bytes, old_keys: Sequence[str], known: Callable[[str], bool]):
        super().__init__(key)
        self._old = [Pseudonymiser(k) for k in old_keys]
        self._known = known
        self._chosen: dict[str, str] = {}

    @property
    def may_block(self) -> bool:
        """Choosing a pseudonym may query the warehouse (`known`) while old keys remain."""
        return bool(self._old)

    def candidates(self, identifier: str, kind: str = "bsn") -> list[str]:
        """The pseudonym under the current key, then under each previous key."""
        return [super().klant(identifier, kind)] + [o.klant(identifier, kind) for o in self._old]

    def klant(self, identifier: str, kind: str = "bsn") -> str:
        current = super().klant(identifier, kind)
        if not self._old:
            return current
        chosen = self._chosen.get(current)
        if chosen is None:
            options = self.candidates(identifier, kind)
            chosen = next((p for p in options if self._known(p)), current)
            if len(self._chosen) > 100_000:
                self._chosen.clear()
            self._chosen[current] = chosen
        return chosen


def key_list(keys: str) -> list[str]:
    """Previous keys, newest first, as configured (whitespace-separated)."""
    return keys.split()


Replacement = str | Callable[[re.Match[str]], str]

# Kinds of personal data the scrubber recognises, with their placeholders.
PLACEHOLDERS: dict[str, str] = {
    "email": "[e-mail]",
    "iban": "[iban]",
    "naam": "[naam]",
    "geboortedatum": "[geboortedatum]",
    "telefoon": "[telefoon]",
    "bsn": "[nummer]",
    "postcode": "[postcode]",
    "adres": "[adres]",
    "kenteken": "[kenteken]",
}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?"
    r"(?![A-Za-z0-9])"
)

_TUSSENVOEGSEL = r"(?i:van|de|der|den|ter|ten|te|het|la|le|el|op|in|'t)"
# Words that end a name written in lowercase ("mijn naam is jan en ik ...").
_NOT_NAME = r"(?!(?i:en|ik|is|maar|wil|heb|ben|was|woon|uit|bel|graag|wij|we|u|de|het|een)\b)"
_NAME_WORD = r"[A-ZÀ-Ý][\w'’-]{0,40}"
_NAME = re.compile(
    r"(?i:\b(?:mijn naam is|ik heet|naam\s?:|met vriendelijke groet,?|groet,|mvg,?))\s{1,3}"
    rf"(?:(?:[A-Za-z]\.){{1,4}}\s?)?(?:[\w'’-]{{1,40}})"
    rf"(?:\s{{1,2}}(?:{_TUSSENVOEGSEL}\s){{0,3}}{_NOT_NAME}[\w'’-]{{1,40}}){{0,3}}"
)
# Capitalised words after "ik ben" that say what, not who.
_NOT_NAME_AFTER_IK_BEN = (
    r"(?!(?:Nederlander|Nederlandse|Marokkaan|Marokkaanse|Turk|Turkse|Surinamer|Surinaamse|Pool"
    r"|Poolse|Belg|Duitser|Brit|Syriër|Eritreeër|Oekraïner|Oekraïense|Ondernemer|Student"
    r"|Eigenaar|Huurder|Bewoner|Mantelzorger|Alleenstaand|Alleenstaande|Gepensioneerd|Blij|Boos"
    r"|Tevreden|Ontevreden|Moslim|Christen|Zzp'er|ZZP'er|Het|Er|Al|Nog|Niet|Erg|Heel|Zeer)\b)"
)
_NAME_AFTER_IK_BEN = re.compile(
    rf"\b(?:[Ii]k ben|[Dd]it is)\s(?:mevrouw\s|meneer\s|mevr\.\s|dhr\.\s)?"
    rf"{_NOT_NAME_AFTER_IK_BEN}{_NAME_WORD}"
    rf"(?:\s(?:{_TUSSENVOEGSEL}\s){{0,3}}{_NAME_WORD}){{0,2}}"
)
_TITLE_NAME = re.compile(
    rf"\b(?:[Mm]evrouw|[Mm]eneer|[Mm]evr\.?|[Mm]w\.?|[Dd]hr\.?|[Hh]eer)\s(?:(?:{_TUSSENVOEGSEL}\s){{0,3}})"
    rf"{_NAME_WORD}(?:\s{_NAME_WORD})?"
)
# Capitalised words after a role or family word that are departments, not people.
_NOT_PERSON = r"(?![\w'-]*(?:zaken|dienst|loket|balie|afdeling|centrum|team|gemeente|KCC)\b)"
# A name after a role or family word: "collega Sanne", "mijn zoon Daan", "moeder van Daan".
_ROLE_NAME = re.compile(
    r"\b(?:collega|medewerker|medewerkster|behandelaar|behandelaarster|consulent|consulente"
    r"|zoon|dochter|moeder|vader|broer|zus|man|vrouw|partner|opa|oma|buurman|buurvrouw)"
    rf"\s(?:van\s)?{_NOT_PERSON}{_NAME_WORD}"
)
_GREETING_NAME = re.compile(
    rf"\b(?:[Gg]roetjes|[Gg]roeten|[Gg]roet|[Gg]r\.)[,!]?\s{{1,3}}{_NAME_WORD}(?:\s{_NAME_WORD})?"
)

_MONTHS = (
    r"(?:januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november"
    r"|december|jan|feb|mrt|apr|jun|jul|aug|sep|sept|okt|nov|dec)\.?"
)
_BIRTH_WORD = r"(?:geboren|geboortedatum|geb\.|geb|geboortedag|verjaardag)"
_DATE = (
    rf"(?:[0-3]?[0-9][-/.][01]?[0-9][-/.](?:19|20)[0-9]{{2}}|[0-3]?[0-9]\s{_MONTHS}\s(?:19|20)[0-9]{{2}}"
    rf"|(?:19|20)[0-9]{{2}}-[01][0-9]-[0-3][0-9])"
)
_BIRTH_DATE = re.compile(
    rf"(?i:\b{_BIRTH_WORD}\b[^\S\n]{{0,3}}(?:op|is|:)?[^\S\n]{{0,3}}(?:de\s)?)"
    rf"(?i:(?<![0-9]){_DATE}|[0-3]?[0-9][-/.][01]?[0-9][-/.][0-9]{{2}})(?![0-9])"
)
_ANY_DATE = re.compile(rf"(?i:(?<![\w/.-]){_DATE})(?![0-9])")

_PHONE_SEP = r"[\s.()/-]{0,3}"
_PHONE = re.compile(
    # +31 6 12345678, 0031 (0)20-7654321, +31(0)612345678
    rf"(?<![\w+])(?:\+|00)31{_PHONE_SEP}(?:\(0\){_PHONE_SEP})?[1-9](?:{_PHONE_SEP}[0-9]){{8}}"
    rf"(?![0-9])"
    # 0612345678, 06-12345678, (020) 7654321, 020 765 43 21, 06 12 34 56 78
    rf"|(?<![\w+(])\(?0(?:{_PHONE_SEP}[0-9]){{9}}(?![0-9])"
)

# After "bsn" any 8 or 9 digits within a few words count ("bsn van mijn zoon (23456781)").
_BSN_KEYWORD = re.compile(
    r"(?i:\b(?:bsn|burgerservicenummer|sofinummer|sofi-nummer)\b[^0-9\n]{0,30}?)"
    r"(?<![0-9])[0-9][0-9 .-]{6,12}[0-9](?![0-9])"
)
_NINE_DIGITS = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")
# Digits in 2 to 4 groups ("123 456 789", "12.34.56.789", "1234 56 789"): nine of them are
# written like a BSN and replaced whether or not they pass the elfproef (a mistyped BSN is
# still one), unless they are an amount; eight only when they pass it.
_GROUPED_DIGITS = re.compile(r"(?<![\w.,-])[0-9]{1,4}(?:[ .-][0-9]{1,4}){1,3}(?![\w]|[.,-][0-9])")
_AMOUNT_OR_UNIT = ("euro", "eur", ",-", "min", "uur", "dag", "keer", "km", "kilo", "stuk", "m2")
_DATE_SHAPE = re.compile(r"[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4}")
_EIGHT_DIGITS = re.compile(r"(?<![0-9,.])[0-9]{8}(?![0-9]|[,.][0-9])")

# Two-letter Dutch words that follow a number often: "in 2026 en", "1234 is".
_NOT_POSTCODE_LETTERS = frozenset(
    [
        "en",
        "in",
        "op",
        "of",
        "te",
        "is",
        "al",
        "nu",
        "om",
        "ze",
        "we",
        "je",
        "ik",
        "de",
        "na",
        "zo",
        "er",
        "ja",
        "af",
        "uw",
        "km",
        "cm",
        "mm",
        "kg",
        "ml",
        "gr",
        "st",
        "pm",
        "am",
        "eu",
        "ct",
        "nr",
        "no",
        "on",
        "at",
        "it",
        "an",
        "as",
        "be",
        "by",
        "do",
        "go",
        "he",
        "if",
        "me",
        "my",
        "so",
        "to",
        "up",
        "us",
    ]
)
_POSTCODE = re.compile(
    r"(?<![\w])[1-9][0-9]{3}(?:\s?[A-Z]{2}|\s?[a-z]{2}|[A-Z][a-z]|[a-z][A-Z])(?!\w)"
)

_STREET_SUFFIXES = [
    "straat",
    "laan",
    "weg",
    "plein",
    "gracht",
    "kade",
    "singel",
    "dijk",
    "hof",
    "pad",
    "steeg",
    "dreef",
    "park",
    "markt",
    "baan",
    "dam",
    "veld",
    "erf",
    "wal",
    "burcht",
    "haven",
    "weide",
    "akker",
    "hoek",
    "poort",
    "gang",
    "plantsoen",
    "boulevard",
    "zijde",
    "eiland",
    "tuin",
    "hoeve",
    "oord",
    "rade",
    "stede",
    "wijk",
]
# One look-behind per suffix (each fixed width): the street word is read once, then its end
# is compared with the suffixes, instead of trying every suffix at every letter.
_ENDS_IN_SUFFIX = "(?:" + "|".join(f"(?<={re.escape(x)})" for x in _STREET_SUFFIXES) + ")"
_HOUSE_NUMBER = (
    r"[1-9][0-9]{0,3}(?:[^\S\n]?-?[^\S\n]?[A-Za-z](?![A-Za-z])|[^\S\n]?-[^\S\n]?[0-9]{1,4}"
    r"|[^\S\n](?:bis|hs|huis))?(?!\w)"
)
_STREET = re.compile(
    rf"(?<![\w'-])(?=[A-Za-zÀ-ÿ'-]{{3,40}}+[^\S\n]{{1,3}}[1-9])"
    rf"[A-Za-zÀ-ÿ'-]{{3,40}}+{_ENDS_IN_SUFFIX}[^\S\n]{{1,3}}{_HOUSE_NUMBER}"
)
# Words before the street word that belong to the name: "Burgemeester de Withstraat 4".
_STREET_PREFIX = re.compile(r"(?:[A-ZÀ-Ý][\w'.-]{0,30} (?:(?:van|de|der|den|het|'t) ){0,3})+$")
_NAMED_STREET = re.compile(
    r"(?<![\w-])(?:Laan|Plein|Burgemeester|Burg\.|Oude|Nieuwe|Lange|Korte|Hoge|Lage"
    r"|Sint|St\.|Prins|Prinses|Koning|Koningin|Graaf|Dokter|Dr\.|Professor|Prof\.)"
    rf"(?: [A-Za-zÀ-ÿ'.-]{{1,30}}){{0,4}} {_HOUSE_NUMBER}"
)
_LIVES_AT = re.compile(
    r"(?i:\b(?:ik woon|wij wonen|we wonen|woonachtig|woonadres|adres\s?:|adres is))"
    rf"(?: (?:op|aan|in|de|het|:)){{0,2}} [A-ZÀ-Ý][\w'.-]{{0,30}}(?: [\w'.-]{{1,30}}){{0,3}}"
    rf" {_HOUSE_NUMBER}"
)


def _sidecodes() -> str:
    # RDW sidecodes 1-14 (X letter, 9 digit); letters on plates are consonants only.
    shapes = [
        "XX-99-99",
        "99-99-XX",
        "99-XX-99",
        "XX-99-XX",
        "XX-XX-99",
        "99-XX-XX",
        "99-XXX-9",
        "9-XXX-99",
        "XX-999-X",
        "X-999-XX",
        "XXX-99-X",
        "X-99-XXX",
        "9-XX-999",
        "999-XX-9",
    ]
    alternatives = []
    for shape in shapes:
        parts = []
        for group in shape.split("-"):
            cls = "[A-Za-z]" if group[0] == "X" else "[0-9]"
            parts.append(f"{cls}{{{len(group)}}}")
        alternatives.append("[- ]?".join(parts))
    return "|".join(alternatives)


# The look-ahead admits only a run of 6 to 8 plate characters and separators, so the 14
# alternatives are tried at few places.
_PLATE = re.compile(
    r"(?<![\w-])(?=[0-9A-Za-z][0-9A-Za-z -]{5,7}(?![\w-]))"
    rf"(?:{_sidecodes()})(?![\w-])"
)


def _plate(match: re.Match[str]) -> str:
    text = match.group(0)
    letters = "".join(c for c in text if c.isalpha())
    if "-" not in text and not (letters.isupper() and not set(letters) & set("AEIOUY")):
        return text  # "2 uur 30", "12 km 34": undashed plates only in capital consonants
    return PLACEHOLDERS["kenteken"]


def _sub_street(text: str) -> str:
    """Street + house number, with the capitalised words before the street word."""
    out: list[str] = []
    done = 0
    for m in _STREET.finditer(text):
        start = m.start()
        window = text[max(done, start - 80) : start]
        prefix = _STREET_PREFIX.search(window)
        if prefix is not None:
            start -= len(window) - prefix.start()
        out.append(text[done:start])
        out.append(PLACEHOLDERS["adres"])
        done = m.end()
    out.append(text[done:])
    return "".join(out)


def _grouped_bsn(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[^0-9]", "", text)
    before = match.string[max(0, match.start() - 6) : match.start()].lower()
    after = match.string[match.end() : match.end() + 6].lower()
    if "€" in before or "eur" in before or after.lstrip().startswith(_AMOUNT_OR_UNIT):
        return text  # an amount or a quantity
    if _DATE_SHAPE.search(text):
        return text  # a date followed by a time, not a number
    if len(digits) == 9 or (len(digits) == 8 and is_valid_bsn(digits)):
        return PLACEHOLDERS["bsn"]
    return text


def _keep_unless_bsn(placeholder: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", match.group(0))
        return placeholder if is_valid_bsn(digits) else match.group(0)

    return replace


def _postcode(match: re.Match[str]) -> str:
    text = match.group(0)
    letters = text[-2:]
    if letters.islower() and letters in _NOT_POSTCODE_LETTERS:
        return text
    return PLACEHOLDERS["postcode"]


def _bsn_after_keyword(match: re.Match[str]) -> str:
    text = match.group(0)
    digits_at = next(i for i, c in enumerate(text) if c.isdigit())
    return text[:digits_at] + PLACEHOLDERS["bsn"]


def _old_date(match: re.Match[str]) -> str:
    """A full date more than 12 years ago is a date of birth far more often than not."""
    years = re.findall(r"(?:19|20)[0-9]{2}", match.group(0))
    year = int(years[-1]) if years else 9999
    if year <= datetime.now(UTC).year - 12:
        return PLACEHOLDERS["geboortedatum"]
    return match.group(0)


def _keep_prefix(kind: str, role: bool = False) -> Callable[[re.Match[str]], str]:
    """Keep the trigger words ("mijn naam is"; "moeder van"), replace what follows."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        head = _TRIGGER_HEADS[kind].match(text)
        cut = head.end() if head else 0
        if role and text[cut:].startswith("van "):
            cut += 4
        return text[:cut] + PLACEHOLDERS[kind]

    return replace


_TRIGGER_HEADS: dict[str, re.Pattern[str]] = {
    "naam": re.compile(
        r"(?i:mijn naam is|ik heet|naam\s?:|met vriendelijke groet,?|groet,|mvg,?|ik ben|dit is"
        r"|mevrouw|meneer|mevr\.?|mw\.?|dhr\.?|heer|collega|medewerker|medewerkster"
        r"|behandelaar|behandelaarster|consulent|consulente|zoon|dochter|moeder|vader|broer|zus"
        r"|man|vrouw|partner|opa|oma|buurman|buurvrouw|groetjes|groeten|groet|gr\.)[,!]?"
        r"\s{0,3}"
    ),
    "geboortedatum": re.compile(
        rf"(?i:{_BIRTH_WORD}\b[^\S\n]{{0,3}}(?:op|is|:)?[^\S\n]{{0,3}}(?:de\s)?)"
    ),
}


def _regex_step(
    pattern: re.Pattern[str], replacement: Replacement, needles: tuple[str, ...] = ()
) -> Callable[[str], str]:
    """A pattern as a step; with `needles`, only run when one of them is in the text (the
    patterns that start with trigger words are slow to try at every word)."""
    sub = partial(pattern.sub, replacement)
    if not needles:
        return sub

    def step(text: str) -> str:
        lowered = text.lower()
        return sub(text) if any(n in lowered for n in needles) else text

    return step


_NAME_NEEDLES = ("naam", "heet", "groet", "mvg")
_TITLE_NEEDLES = ("mevr", "meneer", "dhr", "heer", "mw")
_ROLE_NEEDLES = (
    "collega",
    "medewerk",
    "behandelaar",
    "consulent",
    "zoon",
    "dochter",
    "moeder",
    "vader",
    "broer",
    "zus",
    "man",
    "vrouw",
    "partner",
    "opa",
    "oma",
    "buur",
)


# (kind, step), in order: e-mail and IBAN before the number patterns that would eat their
# digits, names and dates before phone numbers and BSNs, streets before postcodes.
STEPS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("email", _regex_step(_EMAIL, PLACEHOLDERS["email"])),
    ("iban", _regex_step(_IBAN, PLACEHOLDERS["iban"])),
    ("naam", _regex_step(_NAME, _keep_prefix("naam"), _NAME_NEEDLES)),
    ("naam", _regex_step(_NAME_AFTER_IK_BEN, _keep_prefix("naam"), ("ik ben", "dit is"))),
    ("naam", _regex_step(_TITLE_NAME, _keep_prefix("naam"), _TITLE_NEEDLES)),
    ("naam", _regex_step(_ROLE_NAME, _keep_prefix("naam", role=True), _ROLE_NEEDLES)),
    ("naam", _regex_step(_GREETING_NAME, _keep_prefix("naam"), ("groet", "gr."))),
    (
        "geboortedatum",
        _regex_step(_BIRTH_DATE, _keep_prefix("geboortedatum"), ("geb", "verjaardag")),
    ),
    ("geboortedatum", _regex_step(_ANY_DATE, _old_date)),
    ("bsn", _regex_step(_BSN_KEYWORD, _bsn_after_keyword, ("bsn", "burgerservice", "sofi"))),
    ("telefoon", _regex_step(_PHONE, PLACEHOLDERS["telefoon"])),
    ("bsn", _regex_step(_NINE_DIGITS, PLACEHOLDERS["bsn"])),
    ("bsn", _regex_step(_GROUPED_DIGITS, _grouped_bsn)),
    ("bsn", _regex_step(_EIGHT_DIGITS, _keep_unless_bsn(PLACEHOLDERS["bsn"]))),
    ("adres", _regex_step(_LIVES_AT, PLACEHOLDERS["adres"], ("woon", "adres"))),
    ("adres", _regex_step(_NAMED_STREET, PLACEHOLDERS["adres"])),
    ("adres", _sub_street),
    ("postcode", _regex_step(_POSTCODE, _postcode)),
    ("kenteken", _regex_step(_PLATE, _plate)),
)


def scrub(text: str) -> str:
    """Replace e-mail addresses, IBANs, names after "mijn naam is", dates of birth, phone
    numbers, BSNs, street addresses, postcodes and licence plates by placeholders."""
    for _kind, step in STEPS:
        text = step(text)
    return text


_ALREADY_CLEAN: dict[str, int] = {}  # text scrub() left as it was -> the year it did so
_ALREADY_CLEAN_MAX = 4096


def scrub_repeated(text: str) -> str:
    """scrub() for texts that repeat, such as contact subjects ("Paspoort aanvragen"): a
    text scrub() left unchanged is remembered and not scrubbed again. Only such texts are
    kept, never one that held something to replace, and only for the year they were checked
    in (a date turns into a date of birth as the years pass); at most 4096 of them."""
    year = datetime.now(UTC).year
    if _ALREADY_CLEAN.get(text) == year:
        return text
    cleaned = scrub(text)
    if cleaned == text:
        if len(_ALREADY_CLEAN) >= _ALREADY_CLEAN_MAX:
            _ALREADY_CLEAN.clear()
        _ALREADY_CLEAN[text] = year
    return cleaned


def scrub_bounded(text: str, max_length: int) -> str:
    """Scrubbed and cut to `max_length` (placeholders may be longer than what they hide);
    a placeholder is never cut in half."""
    cleaned = scrub(text)
    if len(cleaned) <= max_length:
        return cleaned
    cut = cleaned[:max_length]
    opening = cut.rfind("[")
    if opening != -1 and "]" not in cut[opening:]:
        cut = cut[:opening]
    return cut.rstrip()

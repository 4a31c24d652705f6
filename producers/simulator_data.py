"""Vocabulary of the contact simulator: services, teams, channels and Dutch phrase banks.

Everything here is immutable data (tuples, frozen dataclasses, MappingProxyType) so the
simulator's only state lives in its instance. Numbers are plausible for a mid-sized Dutch
municipality, not measured: they exist to make demos and benchmarks look and behave like
the real thing (skewed channel mix, weak and strong services, comments that fit scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

# --- channels ---------------------------------------------------------------------------

# Share of all contacts per channel on a working day (weekends shift this towards digital).
CHANNEL_MIX: MappingProxyType[str, float] = MappingProxyType(
    {
        "telefoon": 0.40,
        "e-formulier": 0.25,
        "balie": 0.15,
        "e-mail": 0.10,
        "chat": 0.05,
        "whatsapp": 0.05,
    }
)

# Staffed channels only exist during opening hours; digital ones arrive around the clock.
STAFFED_CHANNELS = frozenset({"telefoon", "balie", "chat"})

# Opening hours (local time, [from, to) in hours) of the staffed channels per weekday 0..4.
# Thursday evening the balie is open late, as in many municipalities ("koopavond").
OPENING_HOURS: MappingProxyType[str, tuple[tuple[float, float], ...]] = MappingProxyType(
    {
        "telefoon": ((8.5, 17.0),) * 5,
        "balie": ((9.0, 16.5), (9.0, 16.5), (9.0, 12.5), (9.0, 20.0), (9.0, 12.5)),
        "chat": ((9.0, 17.0),) * 5,
    }
)

# Relative hourly intensity of staffed channels (peaks after opening and after lunch).
STAFFED_HOUR_PROFILE: MappingProxyType[int, float] = MappingProxyType(
    {
        8: 1.4,
        9: 1.6,
        10: 1.4,
        11: 1.1,
        12: 0.7,
        13: 1.0,
        14: 1.1,
        15: 0.9,
        16: 0.7,
        17: 0.4,
        18: 0.4,
        19: 0.3,
    }
)

# Relative hourly intensity of digital channels (evenings are busy on the website).
DIGITAL_HOUR_PROFILE: tuple[float, ...] = (
    0.1,
    0.05,
    0.03,
    0.03,
    0.05,
    0.1,
    0.3,
    0.6,
    0.9,
    1.0,
    1.0,
    1.0,
    0.9,
    1.0,
    1.0,
    0.9,
    0.9,
    0.8,
    0.7,
    0.9,
    1.1,
    1.0,
    0.6,
    0.3,
)

# Volume per weekday (Monday 0) relative to an average working day.
WEEKDAY_FACTOR: tuple[float, ...] = (1.25, 1.1, 1.0, 1.0, 0.75, 0.0, 0.0)
DIGITAL_WEEKEND_FACTOR: tuple[float, ...] = (0.35, 0.25)  # Saturday, Sunday

# Share of contacts that did not reach their goal (call dropped, form abandoned, ...).
FAILURE_RATE: MappingProxyType[str, float] = MappingProxyType(
    {
        "telefoon": 0.11,
        "e-formulier": 0.05,
        "balie": 0.03,
        "e-mail": 0.06,
        "chat": 0.10,
        "whatsapp": 0.08,
    }
)

# How likely an invited citizen answers, per dispatch channel (inline = thank-you page).
RESPONSE_RATE: MappingProxyType[str, float] = MappingProxyType(
    {"inline": 0.2, "email": 0.14, "sms": 0.1}
)

# The rest of the response funnel (see docs/dispatch.md#funnel): e-mail and SMS that reach the
# citizen, invited citizens who open or start the questionnaire without finishing it, and
# those who say "no more questionnaires".
DELIVERY_RATE: MappingProxyType[str, float] = MappingProxyType(
    {"inline": 1.0, "email": 0.96, "sms": 0.97}
)
OPEN_WITHOUT_ANSWER = 0.25
START_WITHOUT_ANSWER = 0.35
OPT_OUT_RATE = 0.015

LANGUAGES: tuple[tuple[str, float], ...] = (
    ("nld", 0.94),
    ("eng", 0.03),
    ("tur", 0.01),
    ("ara", 0.01),
    ("pol", 0.01),
)

# --- services ---------------------------------------------------------------------------


def _no_affinity() -> MappingProxyType[str, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Service:
    code: str
    naam: str
    team: str  # the backoffice team that owns the service
    hoofd_onderwerp_type: str
    volume: float  # relative share of contacts
    quality: float  # mean latent satisfaction 0..1 of this service's contacts
    onderwerpen: tuple[str, ...]
    # channel -> affinity multiplier (1.0 when absent): paspoort is a balie product, etc.
    affinity: MappingProxyType[str, float] = field(default_factory=_no_affinity)
    confidential: float = 0.01  # share of contacts marked vertrouwelijk
    praise: tuple[str, ...] = ()  # service-specific positive remarks
    complaints: tuple[str, ...] = ()  # service-specific negative remarks
    kort: str = ""  # short name in comments ("mijn paspoort")
    pagina: str = ""  # the web page of the service (page feedback)


def _aff(**kwargs: float) -> MappingProxyType[str, float]:
    return MappingProxyType({k.replace("_", "-"): v for k, v in kwargs.items()})


SERVICES: tuple[Service, ...] = (
    Service(
        "paspoort",
        "Paspoort aanvragen",
        "Burgerzaken",
        "Burgerzaken",
        9.0,
        0.78,
        (
            "Afspraak maken paspoort",
            "Paspoort ophalen",
            "Kosten paspoort",
            "Spoedaanvraag paspoort",
            "Paspoort kwijt of gestolen",
            "Pasfoto-eisen",
        ),
        _aff(balie=3.5, telefoon=1.2, e_formulier=0.6, e_mail=0.5),
        praise=(
            "Binnen een week kon ik mijn paspoort al ophalen.",
            "De pasfoto werd ter plekke gecontroleerd, heel fijn.",
            "Afspraak maken ging online heel snel.",
        ),
        complaints=(
            "Pas over zes weken een afspraak voor een paspoort, en ik ga op reis!",
            "Mijn pasfoto werd afgekeurd, niemand had gezegd waarom.",
            "Paspoort lag nog niet klaar terwijl ik een sms had gekregen.",
        ),
        kort="mijn paspoort",
        pagina="/paspoort-aanvragen",
    ),
    Service(
        "id-kaart",
        "Identiteitskaart aanvragen",
        "Burgerzaken",
        "Burgerzaken",
        5.0,
        0.78,
        ("Afspraak maken ID-kaart", "ID-kaart ophalen", "ID-kaart voor kind"),
        _aff(balie=3.5, telefoon=1.0, e_formulier=0.6),
        praise=("ID-kaart was snel klaar en het ophalen duurde twee minuten.",),
        complaints=("Voor een ID-kaart moet je twee keer langskomen, dat kan toch handiger.",),
        kort="mijn ID-kaart",
        pagina="/identiteitskaart-aanvragen",
    ),
    Service(
        "rijbewijs",
        "Rijbewijs verlengen",
        "Burgerzaken",
        "Burgerzaken",
        4.0,
        0.76,
        ("Rijbewijs verlengen", "Rijbewijs ophalen", "Gezondheidsverklaring rijbewijs"),
        _aff(balie=3.0, telefoon=1.0, e_formulier=0.8),
        praise=("Rijbewijs online aangevraagd en binnen een week opgehaald.",),
        complaints=("Aanvraag rijbewijs bleef hangen bij het CBR en de gemeente wist van niks.",),
        kort="mijn rijbewijs",
        pagina="/rijbewijs-verlengen",
    ),
    Service(
        "verhuizing",
        "Verhuizing doorgeven",
        "Burgerzaken",
        "Burgerzaken",
        8.0,
        0.80,
        (
            "Verhuizing binnen de gemeente",
            "Verhuizing naar de gemeente",
            "Adresonderzoek",
            "Inschrijving kind na verhuizing",
        ),
        _aff(e_formulier=3.0, telefoon=1.0, balie=0.6, e_mail=0.8),
        praise=(
            "Verhuizing binnen vijf minuten online doorgegeven.",
            "Met DigiD ging het doorgeven van mijn verhuizing heel makkelijk.",
        ),
        complaints=(
            "Ik sta na drie weken nog steeds niet op mijn nieuwe adres ingeschreven.",
            "Het formulier voor de verhuizing bleef hangen bij stap 3.",
        ),
        kort="mijn verhuizing",
        pagina="/verhuizing-doorgeven",
    ),
    Service(
        "uittreksel-brp",
        "Uittreksel BRP aanvragen",
        "Burgerzaken",
        "Burgerzaken",
        3.0,
        0.82,
        ("Uittreksel BRP aanvragen", "Uittreksel voor buitenland", "Bewijs van Nederlanderschap"),
        _aff(e_formulier=3.0, balie=1.0, telefoon=0.6),
        praise=("Uittreksel lag de volgende dag al in de bus.",),
        complaints=("Uittreksel kwam niet aan en ik moest opnieuw betalen.",),
        kort="het uittreksel",
        pagina="/uittreksel-brp",
    ),
    Service(
        "huwelijk",
        "Trouwen of partnerschap",
        "Burgerzaken",
        "Burgerzaken",
        1.0,
        0.84,
        ("Melding voorgenomen huwelijk", "Trouwlocatie en datum", "Trouwambtenaar kiezen"),
        _aff(e_formulier=1.5, balie=1.5, telefoon=1.0, e_mail=1.5),
        praise=("De trouwambtenaar was geweldig, wat een mooie ceremonie!",),
        complaints=("Onze trouwdatum werd zonder overleg verzet.",),
        kort="onze bruiloft",
        pagina="/trouwen",
    ),
    Service(
        "geboorteaangifte",
        "Geboorteaangifte doen",
        "Burgerzaken",
        "Burgerzaken",
        1.5,
        0.86,
        ("Aangifte geboorte", "Erkenning ongeboren kind", "Naamskeuze"),
        _aff(balie=2.5, e_formulier=1.5, telefoon=0.8),
        praise=("Heel vriendelijk geholpen bij de aangifte van onze dochter.",),
        complaints=("Online geboorteaangifte lukte niet, toch naar het stadskantoor gemoeten.",),
        kort="de geboorteaangifte",
        pagina="/geboorteaangifte",
    ),
    Service(
        "afval-grofvuil",
        "Grofvuil ophalen",
        "Stadsbeheer",
        "Afval",
        7.0,
        0.70,
        ("Afspraak grofvuil", "Grofvuil niet opgehaald", "Kosten grofvuil"),
        _aff(e_formulier=2.0, telefoon=1.2, whatsapp=1.5),
        praise=("Grofvuil werd netjes op de afgesproken dag opgehaald.",),
        complaints=(
            "Mijn grofvuil staat al een week aan de straat, niemand is geweest.",
            "Pas over vier weken een ophaalmoment voor grofvuil.",
        ),
        kort="het grofvuil",
        pagina="/grofvuil",
    ),
    Service(
        "afval-container",
        "Afvalcontainer en afvalpas",
        "Stadsbeheer",
        "Afval",
        5.0,
        0.64,
        ("Container kapot", "Container niet geleegd", "Afvalpas kwijt", "Extra container"),
        _aff(e_formulier=1.8, telefoon=1.3, whatsapp=1.5),
        praise=("Binnen twee dagen een nieuwe container, top geregeld.",),
        complaints=(
            "De container is al drie keer niet geleegd en het begint te stinken.",
            "Nieuwe afvalpas besteld maar na een maand nog steeds niks.",
        ),
        kort="de container",
        pagina="/afvalcontainer",
    ),
    Service(
        "melding-openbare-ruimte",
        "Melding openbare ruimte",
        "Stadsbeheer",
        "Openbare ruimte",
        8.0,
        0.58,
        (
            "Kapotte straatverlichting",
            "Losliggende stoeptegel",
            "Zwerfafval",
            "Overhangend groen",
            "Gat in de weg",
            "Wateroverlast",
            "Dumping van afval",
        ),
        _aff(e_formulier=2.2, whatsapp=2.0, telefoon=1.0, balie=0.2, chat=1.2),
        praise=(
            "Melding gedaan en de volgende dag was de lantaarnpaal al gerepareerd.",
            "Fijn dat je een foto kunt meesturen met de melding.",
        ),
        complaints=(
            "Mijn melding is afgesloten zonder dat er iets is gedaan.",
            "Die losse stoeptegel ligt er na twee meldingen nog steeds.",
            "Melding gedaan over de lantaarnpaal, drie weken later nog steeds donker.",
        ),
        kort="mijn melding",
        pagina="/melding-openbare-ruimte",
    ),
    Service(
        "parkeervergunning",
        "Parkeervergunning aanvragen",
        "Parkeren",
        "Parkeren",
        5.0,
        0.62,
        ("Bewonersvergunning", "Bezoekersregeling", "Kenteken wijzigen", "Wachtlijst vergunning"),
        _aff(e_formulier=2.0, telefoon=1.2, e_mail=1.2),
        praise=("Kenteken wijzigen in de app werkte meteen.",),
        complaints=(
            "Al een jaar op de wachtlijst voor een parkeervergunning.",
            "De bezoekersapp werkt niet en nu heb ik een boete.",
        ),
        kort="mijn parkeervergunning",
        pagina="/parkeervergunning",
    ),
    Service(
        "gehandicaptenparkeerkaart",
        "Gehandicaptenparkeerkaart aanvragen",
        "Wmo-team",
        "Zorg en ondersteuning",
        1.0,
        0.55,
        ("Aanvraag gehandicaptenparkeerkaart", "Medische keuring", "Verlenging kaart"),
        _aff(e_formulier=1.2, telefoon=1.5, e_mail=1.0),
        confidential=0.05,
        complaints=("De medische keuring duurde maanden, ondertussen kan ik nergens parkeren.",),
        kort="mijn parkeerkaart",
        pagina="/gehandicaptenparkeerkaart",
    ),
    Service(
        "wmo-hulpmiddel",
        "Wmo hulpmiddel of voorziening",
        "Wmo-team",
        "Zorg en ondersteuning",
        4.0,
        0.50,
        (
            "Aanvraag scootmobiel",
            "Traplift",
            "Huishoudelijke hulp",
            "Keukentafelgesprek",
            "Woningaanpassing",
            "Rolstoel reparatie",
        ),
        _aff(telefoon=2.0, e_mail=1.0, e_formulier=0.6, balie=0.4),
        confidential=0.12,
        praise=(
            "De Wmo-consulent nam echt de tijd voor het keukentafelgesprek.",
            "Scootmobiel werd snel geleverd en netjes uitgelegd.",
        ),
        complaints=(
            "Mijn moeder wacht al vier maanden op een traplift.",
            "Huishoudelijke hulp zomaar verminderd zonder gesprek.",
            "Niemand weet wie mijn aanvraag voor de woningaanpassing behandelt.",
        ),
        kort="de aanvraag van de traplift",
        pagina="/wmo",
    ),
    Service(
        "bijstand",
        "Bijstandsuitkering",
        "Werk en Inkomen",
        "Werk en inkomen",
        4.0,
        0.45,
        (
            "Aanvraag bijstand",
            "Uitbetaling uitkering",
            "Inlichtingenplicht",
            "Terugvordering",
            "Bijzondere bijstand",
        ),
        _aff(telefoon=2.0, e_mail=1.2, e_formulier=0.8, balie=0.6),
        confidential=0.15,
        praise=("Mijn klantmanager heeft me super goed geholpen, eindelijk duidelijkheid.",),
        complaints=(
            "Mijn uitkering is niet op tijd uitbetaald en nu kan ik de huur niet betalen.",
            "Al drie keer dezelfde papieren ingeleverd, ze raken steeds kwijt.",
            "Ik word behandeld als een fraudeur.",
        ),
        kort="mijn uitkering",
        pagina="/bijstand",
    ),
    Service(
        "schuldhulp",
        "Schuldhulpverlening",
        "Werk en Inkomen",
        "Werk en inkomen",
        2.0,
        0.55,
        ("Aanmelding schuldhulp", "Budgetbeheer", "Beslaglegging"),
        _aff(telefoon=2.0, e_mail=1.0, e_formulier=1.0),
        confidential=0.20,
        praise=("Zonder oordeel geholpen, ik slaap eindelijk weer.",),
        complaints=("Na mijn aanmelding voor schuldhulp acht weken niks gehoord.",),
        kort="de schuldhulp",
        pagina="/schuldhulpverlening",
    ),
    Service(
        "jeugdhulp",
        "Jeugdhulp",
        "Sociaal Wijkteam",
        "Zorg en ondersteuning",
        2.0,
        0.48,
        ("Aanmelding jeugdhulp", "Wachtlijst jeugdzorg", "Pgb jeugd"),
        _aff(telefoon=2.0, e_mail=1.5, e_formulier=0.6),
        confidential=0.25,
        complaints=("Ons kind staat al maanden op een wachtlijst en niemand neemt contact op.",),
        kort="de jeugdhulp",
        pagina="/jeugdhulp",
    ),
    Service(
        "woz-bezwaar",
        "Bezwaar WOZ-waarde",
        "Belastingen",
        "Belastingen",
        4.0,
        0.52,
        ("Bezwaar WOZ-beschikking", "Taxatieverslag opvragen", "Uitspraak bezwaar"),
        _aff(e_formulier=2.5, telefoon=1.0, e_mail=1.0, balie=0.1),
        praise=("Bezwaar gegrond verklaard en netjes uitgelegd waarom.",),
        complaints=(
            "Mijn bezwaar is afgewezen met een standaardbrief zonder uitleg.",
            "De WOZ-waarde is veel te hoog en niemand kijkt echt naar mijn woning.",
        ),
        kort="mijn WOZ-bezwaar",
        pagina="/woz-bezwaar",
    ),
    Service(
        "belastingen-betalen",
        "Gemeentelijke belastingen betalen",
        "Belastingen",
        "Belastingen",
        4.0,
        0.62,
        (
            "Aanslag gemeentelijke belastingen",
            "Betalingsregeling",
            "Automatische incasso",
            "Aanmaning",
        ),
        _aff(telefoon=1.5, e_formulier=1.2, e_mail=1.2),
        praise=("Betalingsregeling was in één telefoontje geregeld.",),
        complaints=("Aanmaning gekregen terwijl ik allang betaald had.",),
        kort="de aanslag",
        pagina="/belastingen",
    ),
    Service(
        "kwijtschelding",
        "Kwijtschelding belastingen",
        "Belastingen",
        "Belastingen",
        2.0,
        0.50,
        ("Aanvraag kwijtschelding", "Afwijzing kwijtschelding"),
        _aff(e_formulier=1.6, telefoon=1.5, e_mail=1.0),
        confidential=0.05,
        complaints=("Kwijtschelding afgewezen terwijl mijn inkomen niet veranderd is.",),
        kort="de kwijtschelding",
        pagina="/kwijtschelding",
    ),
    Service(
        "omgevingsvergunning",
        "Omgevingsvergunning aanvragen",
        "Vergunningen",
        "Wonen en bouwen",
        3.0,
        0.48,
        ("Vergunning dakkapel", "Vergunning aanbouw", "Kapvergunning", "Vooroverleg bouwplan"),
        _aff(e_mail=2.0, telefoon=1.2, e_formulier=1.0, balie=0.2),
        praise=("Het vooroverleg over onze aanbouw was heel helder.",),
        complaints=(
            "De beslistermijn voor de dakkapel is al twee keer verlengd.",
            "Via het Omgevingsloket is echt niet te volgen waar mijn aanvraag is.",
        ),
        kort="onze vergunning",
        pagina="/omgevingsvergunning",
    ),
    Service(
        "evenementenvergunning",
        "Evenementenvergunning",
        "Vergunningen",
        "Wonen en bouwen",
        1.0,
        0.60,
        ("Buurtfeest aanvragen", "Evenement melden", "Ontheffing geluid"),
        _aff(e_mail=2.0, e_formulier=1.5, telefoon=1.0),
        complaints=("Vergunning voor ons buurtfeest kwam een dag van tevoren pas binnen.",),
        kort="de vergunning voor ons buurtfeest",
        pagina="/evenementenvergunning",
    ),
    Service(
        "hondenbelasting",
        "Hondenbelasting",
        "Belastingen",
        "Belastingen",
        1.0,
        0.62,
        ("Hond aanmelden", "Hond afmelden"),
        _aff(e_formulier=2.0, telefoon=1.0),
        complaints=("Hond al een jaar geleden afgemeld en toch weer een aanslag.",),
        kort="de hondenbelasting",
        pagina="/hondenbelasting",
    ),
)

SERVICE_BY_CODE: MappingProxyType[str, Service] = MappingProxyType({s.code: s for s in SERVICES})

# Front-office handling: who takes contacts on each channel before the backoffice does.
FRONT_OFFICE: MappingProxyType[str, tuple[str, float]] = MappingProxyType(
    {
        "telefoon": ("KCC", 0.8),
        "chat": ("KCC", 0.9),
        "whatsapp": ("KCC", 0.85),
        "e-mail": ("KCC", 0.4),
    }
)

# What happened in the contact: (code, note for `inhoud`, effect on satisfaction, weight).
OUTCOMES: tuple[tuple[str, str, float, float], ...] = (
    ("opgelost", "direct afgehandeld", 0.08, 0.45),
    ("informatie", "informatie gegeven", 0.02, 0.25),
    ("afspraak", "afspraak ingepland", 0.03, 0.10),
    ("doorverbonden", "doorverbonden met de backoffice", -0.06, 0.08),
    ("terugbellen", "terugbelverzoek uitgezet naar de backoffice", -0.10, 0.07),
    ("zaak", "zaak aangemaakt voor verdere behandeling", -0.02, 0.05),
)

INHOUD_OPENING: MappingProxyType[str, str] = MappingProxyType(
    {
        "telefoon": "Inwoner belt over",
        "e-formulier": "Formulier ingediend:",
        "balie": "Inwoner aan de balie voor",
        "e-mail": "E-mail ontvangen over",
        "chat": "Chatgesprek over",
        "whatsapp": "WhatsApp-bericht over",
    }
)

# --- phrase banks for comments ----------------------------------------------------------
# Bands of the latent satisfaction; the simulator picks phrases from the band it falls in.

VERY_NEGATIVE: tuple[str, ...] = (
    "Dit is echt schandalig, ik ben er helemaal klaar mee.",
    "Waardeloze service, ik dien een officiële klacht in!",
    "Ik word van het kastje naar de muur gestuurd en niemand voelt zich verantwoordelijk.",
    "Dit is de derde keer dat ik bel en nog steeds is er niks gebeurd!!!",
    "Respectloos behandeld door de medewerker, ik voel me totaal niet serieus genomen.",
    "Ik ben ten einde raad en weet niet meer wat ik moet doen.",
    "Belachelijk hoe jullie met mensen omgaan. Nooit meer.",
    "Ik stap naar de Nationale ombudsman als dit niet wordt opgelost.",
    "Absoluut verschrikkelijk. Drie keer beloofd terug te bellen, nooit gebeurd.",
    "Jullie hebben er een puinhoop van gemaakt en ik mag het oplossen.",
)

NEGATIVE: tuple[str, ...] = (
    "Ik moest heel lang wachten voordat ik iemand te spreken kreeg.",
    "Ik ben drie keer doorverbonden en moest steeds mijn verhaal opnieuw doen.",
    "Er zou teruggebeld worden, maar dat is niet gebeurd.",
    "De website is onduidelijk, ik kon de juiste informatie niet vinden.",
    "Het duurt veel te lang voordat je iets hoort.",
    "Ik kreeg geen duidelijk antwoord op mijn vraag.",
    "De medewerker wist het ook niet en verwees me door naar een andere afdeling.",
    "Jammer dat je niemand direct kunt bereiken.",
    "Ik moest alles nog een keer opsturen, dat was al lang gebeurd.",
    "Niet geholpen, mijn probleem is nog steeds niet opgelost.",
    "Teleurstellend, ik had meer verwacht van de gemeente.",
)

MIXED: tuple[str, ...] = (
    "Vriendelijke medewerker, maar het duurde wel erg lang.",
    "Uiteindelijk gelukt, maar de website kan echt duidelijker.",
    "Prima geholpen, alleen de wachttijd was lang.",
    "Het ging redelijk, niet meer en niet minder.",
    "Het formulier was wat omslachtig, maar het is gelukt.",
    "Goed geholpen aan de telefoon, maar ik wacht nog op de bevestiging.",
    "Ik begrijp dat het druk is, maar een reactie binnen een week zou fijn zijn.",
    "Oké.",
    "Geen bijzonderheden.",
)

POSITIVE: tuple[str, ...] = (
    "Vriendelijk en snel geholpen.",
    "Duidelijke uitleg, ik wist meteen waar ik aan toe was.",
    "Prima geregeld, dank u wel.",
    "Goed bereikbaar en de medewerker dacht met me mee.",
    "Alles was duidelijk op de website.",
    "Snel antwoord gekregen op mijn vraag.",
    "Fijn dat het online kon.",
    "Netjes afgehandeld.",
)

VERY_POSITIVE: tuple[str, ...] = (
    "Super goed geholpen, echt top!",
    "Geweldige service, heel erg bedankt!",
    "Wat een vriendelijke en behulpzame medewerker, complimenten!",
    "Dit had ik niet verwacht van de gemeente, heel snel en perfect geregeld.",
    "Uitstekend! Zo zou het altijd moeten gaan.",
    "Top service, binnen een dag geregeld.",
)

# Channel-specific remarks: (negative, positive).
CHANNEL_REMARKS: MappingProxyType[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType(
    {
        "telefoon": (
            (
                "Ik hing {wacht} minuten in de wacht.",
                "Na {wacht} minuten wachten werd de verbinding verbroken.",
                "Het keuzemenu aan de telefoon is een doolhof.",
            ),
            (
                "Meteen iemand aan de lijn, fijn.",
                "De medewerker aan de telefoon was heel geduldig.",
            ),
        ),
        "balie": (
            (
                "Ondanks mijn afspraak moest ik nog {wacht} minuten wachten.",
                "Geen afspraak meer te krijgen binnen een maand.",
            ),
            ("Precies op tijd aan de beurt bij de balie.", "Heel vriendelijke baliemedewerker."),
        ),
        "e-formulier": (
            (
                "Het formulier liep vast en ik moest opnieuw beginnen.",
                "Inloggen met DigiD werkte niet op mijn telefoon.",
            ),
            ("Het formulier was duidelijk en snel ingevuld.", "Makkelijk te regelen met DigiD."),
        ),
        "e-mail": (
            (
                "Pas na {dagen} dagen antwoord op mijn mail.",
                "Ik kreeg een standaardantwoord dat niets met mijn vraag te maken had.",
            ),
            ("Dezelfde dag nog een duidelijk antwoord per mail.",),
        ),
        "chat": (
            ("De chatbot begreep mijn vraag niet.", "Chat werd halverwege afgebroken."),
            ("Via de chat heel snel geholpen.",),
        ),
        "whatsapp": (
            ("Pas na {dagen} dagen een reactie via WhatsApp.",),
            ("Handig dat het via WhatsApp kan!",),
        ),
    }
)

# Remarks that follow from the outcome of the contact (only in the negative bands).
OUTCOME_REMARKS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "terugbellen": (
            "Er zou teruggebeld worden, maar niemand heeft gebeld.",
            "Nog steeds niet teruggebeld, terwijl dat binnen twee dagen zou gebeuren.",
        ),
        "doorverbonden": (
            "Doorverbonden en toen werd er niet opgenomen.",
            "Ik werd van de ene naar de andere afdeling doorgeschakeld.",
        ),
        "zaak": ("Ik heb geen idee wat er nu met mijn zaak gebeurt.",),
    }
)

# A repeat contact about the same thing colours the comment.
REPEAT_REMARKS: tuple[str, ...] = (
    "Dit is al de {n}e keer dat ik hierover contact opneem.",
    "Ik heb hier vorige week ook al over gebeld.",
    "Alweer contact moeten opnemen over hetzelfde.",
)

CALLBACK_REQUESTS: tuple[str, ...] = (
    "Bel me alstublieft terug op {telefoon}.",
    "Graag contact met mij opnemen via {email}.",
    "Ik wil graag dat iemand mij terugbelt.",
)

EMOJI_POSITIVE: tuple[str, ...] = ("👍", "😊", "🙂", "👏", "💯", "😀")
EMOJI_NEGATIVE: tuple[str, ...] = ("😡", "😠", "👎", "🤬", "😤", "🙁")

ENGLISH: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "very_negative": (
            "This is absolutely terrible service, I am filing a complaint!",
            "Nobody ever calls back. Disgraceful.",
        ),
        "negative": (
            "I had to wait a long time and my question was not answered.",
            "The website is only in Dutch, very hard for expats.",
        ),
        "mixed": ("Friendly staff but it took a long time.", "It was okay."),
        "positive": ("Helped quickly and in English, thank you.", "Clear and easy."),
        "very_positive": ("Excellent service, thank you so much!",),
    }
)

# Short remarks for the website smileys.
PAGE_FEEDBACK_COMMENTS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "goed": ("Duidelijke pagina.", "Precies wat ik zocht.", "Handig!", "Helder uitgelegd."),
        "matig": (
            "Ik mis informatie over de kosten.",
            "Wat lang, kan korter.",
            "Niet duidelijk hoe lang het duurt.",
            "Link naar het formulier is lastig te vinden.",
        ),
        "slecht": (
            "Ik kan nergens vinden hoe ik een afspraak maak.",
            "Link werkt niet.",
            "Totaal onduidelijk, ik snap er niets van.",
            "Waardeloze pagina, klopt helemaal niet meer.",
        ),
    }
)

# Invented names only: never real people. Used in remarks and in callback requests.
EMPLOYEE_NAMES: tuple[str, ...] = (
    "Sanne",
    "Mohamed",
    "Ingrid",
    "Kevin",
    "Fatima",
    "Joost",
    "Priya",
    "Henk",
    "Lotte",
    "Yusuf",
)
EMPLOYEE_PRAISE: tuple[str, ...] = (
    "{naam} heeft me geweldig geholpen.",
    "Complimenten voor {naam}, heel vriendelijk.",
)

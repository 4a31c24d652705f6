"""Words that never decide polarity on their own and never explain a score.

Function words (articles, pronouns, prepositions, conjunctions, auxiliaries, common
adverbs), negators and contrast words (their effect is carried by the phrase they scope:
`n:<stem>` features and lexicon phrases such as "niet goed"), intensifiers, light verbs,
and number words. The learned model gets no `w:`/`n:` feature for them and explanations
never show them; digits ("<num>") are excluded the same way.
"""

from __future__ import annotations

from . import lexicon_nl as L

_DUTCH_EXTRA = """
aan achter af al alle alleen allemaal alles als alsof altijd ander andere anders bij binnen
boven buiten daar daarna daarom daarvan dan dat de deze die dit doch doen doe doet deed deden
gedaan door dus echter een eens eigen eigenlijk elk elke en enig enige er erg even eveneens
gaan ga gaat ging gingen gegaan geweest had hadden heb hebben hebt heeft hem hen het hier hij
hoe hoeveel hun ik in is ja je jij jou jouw jullie kan kon konden kunnen kun kunt komen kom
komt kwam kwamen gekomen laat laten liet maar me meer mee men met mij mijn misschien moet
moeten moest moesten mocht mag mogen na naar naast namelijk nee net niet niets niks nog nooit
nu of om omdat ondanks onder ons onze ook op over pas per reeds rond samen sinds sommige steeds
te tegen terug tijdens toch toe toen tot tussen u uit uw van vanaf vanuit veel voor vooral
waar waarom wanneer want was waren wat we weer wel werd werden wie wij wil willen wilde
worden wordt word zal zullen ze zei zeggen zegt zelf zich zij zijn zit zitten zo zoals zonder
zou zouden zulk zulke zeker zomaar gewoon echt heel helemaal best beetje iets iemand niemand
nergens overal ergens ieder iedereen hé hè oké ok nou hoor eh dus daarbij daardoor
het's 's t
"""
_NUMBER_WORDS = """
nul één een twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien
vijftien zestien zeventien achttien negentien twintig dertig veertig vijftig zestig zeventig
tachtig negentig honderd duizend miljoen eerste tweede derde vierde vijfde zesde zevende
achtste negende tiende half halve helft paar dubbel keer keren maal
one two three four five six seven eight nine ten first second third hundred thousand
"""

# Frequent adverbs that are a reason a person accepts in service feedback: "weer" (again:
# "weer niet teruggebeld", and the sarcasm cue "lekker snel weer..."). Their stems keep their
# weights even where another function word shares the stem (English "were" -> "wer").
CARRIES_MEANING = frozenset({"weer", "alweer"})

FUNCTION_WORDS: frozenset[str] = (
    frozenset(
        set(_DUTCH_EXTRA.split())
        | L.STOP_NL
        | L.STOP_EN
        | L.NEGATORS
        | L.CONTRAST
        | set(L.INTENSIFIERS)
        | set(L.DOWNTONERS)
    )
    - set(L.LEXICON_NL)
    - set(L.LEXICON_EN)
    - CARRIES_MEANING
)
NUMBER_WORDS: frozenset[str] = frozenset(_NUMBER_WORDS.split())
# Words a caseworker would not accept as the reason for a score.
NOT_A_REASON: frozenset[str] = FUNCTION_WORDS | NUMBER_WORDS | L.NEGATORS | {"<num>"}


def is_reason(term: str) -> bool:
    """False for a function word, a number (word or digits), a bare negator, or a phrase
    made only of those ("drie keer")."""
    words = term.replace(" (negatie)", "").split()
    if any(ch.isdigit() for ch in term):
        return False
    return any(w not in NOT_A_REASON for w in words)

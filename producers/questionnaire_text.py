"""What the citizen pages say, in Dutch (B1) and English; `texts(lang)` picks one."""

from __future__ import annotations

from starlette.requests import Request

NL: dict[str, str] = {
    "lang": "nl",
    "title": "Vragenlijst over uw contact met ons",
    "h1": "Hoe hebben wij u geholpen?",
    "intro": "U had contact met ons over {dienst}. Wilt u drie korte vragen beantwoorden? "
    "Het kost ongeveer 1 minuut.",
    "dienst_onbekend": "uw vraag",
    "hint": "Schrijf geen persoonlijke gegevens, zoals uw BSN of adres, in de tekstvakken.",
    "change_note": "U heeft deze vragenlijst al ingevuld. U kunt uw antwoorden nog wijzigen "
    "tot {until} uur.",
    "error_prefix": "Fout: ",
    "summary": "Controleer uw antwoorden:",
    "q_ces": "1. Hoe makkelijk was het om dit te regelen?",
    "q_nps": "2. Zou u deze dienst aanraden aan anderen?",
    "q_rapportcijfer": "3. Welk rapportcijfer geeft u?",
    "ces_low": "heel moeilijk",
    "ces_high": "heel makkelijk",
    "nps_low": "zeker niet",
    "nps_high": "zeker wel",
    "rapportcijfer_low": "heel slecht",
    "rapportcijfer_high": "uitstekend",
    "c_ces": "Wilt u uitleggen waarom?",
    "c_nps": "Waarom geeft u dit cijfer?",
    "c_rapportcijfer": "Wat kunnen we beter doen?",
    "optional": "(niet verplicht)",
    "contact_q": "Mogen we contact met u opnemen?",
    "contact_hint": "Bijvoorbeeld om uw antwoorden te bespreken of uw probleem op te lossen.",
    "contact_nee": "Nee, liever niet",
    "contact_telefoon": "Ja, bel mij",
    "contact_email": "Ja, mail mij",
    "telefoon": "Uw telefoonnummer",
    "telefoon_hint": "Alleen nodig als u gebeld wilt worden. Bijvoorbeeld 06 12345678.",
    "email": "Uw e-mailadres",
    "email_hint": "Alleen nodig als u een e-mail wilt krijgen.",
    "next": "Volgende",
    "send": "Versturen",
    "optout_link": "Ik wil geen vragenlijsten meer ontvangen",
    # follow-up (step 2)
    "f_title": "Nog één vraag",
    "f_mis": "Wat ging er mis?",
    "f_goed": "Wat ging er goed?",
    "f_intro_mis": "Vervelend dat het niet goed ging. Wilt u ons vertellen wat er mis ging? "
    "Dan kunnen we het beter doen.",
    "f_intro_goed": "Fijn dat het goed ging! Wilt u ons vertellen wat er goed ging?",
    "f_causes_hint": "Kies wat voor u geldt. U mag meer dan één kiezen.",
    "f_toelichting": "Wilt u nog iets toelichten?",
    "cause_wachttijd": "Ik moest lang wachten",
    "cause_onduidelijk": "De informatie was niet duidelijk",
    "cause_niet-opgelost": "Mijn vraag is niet opgelost",
    "cause_doorverwezen": "Ik werd steeds doorverwezen",
    "cause_bejegening": "Ik werd niet vriendelijk behandeld",
    "cause_snel": "Ik was snel geholpen",
    "cause_duidelijk": "De uitleg was duidelijk",
    "cause_opgelost": "Mijn vraag is opgelost",
    "cause_vriendelijk": "De medewerker was vriendelijk",
    "cause_deskundig": "De medewerker wist er veel van",
    # errors
    "e_none": "Beantwoord minstens één vraag.",
    "e_range": "Kies bij vraag {n} een cijfer van {low} tot en met {high}.",
    "e_comment_no_score": "Kies bij vraag {n} ook een cijfer, of maak het tekstvak leeg.",
    "e_too_long": "Uw tekst bij {what} is te lang. Gebruik maximaal {max} tekens.",
    "e_contact": "Kies of we contact met u mogen opnemen.",
    "e_telefoon": "Vul een telefoonnummer in, bijvoorbeeld 06 12345678.",
    "e_email": "Vul een e-mailadres in, bijvoorbeeld naam@voorbeeld.nl.",
    "e_cause": "Kies alleen uit de genoemde mogelijkheden.",
    "what_q": "vraag {n}",
    "what_toelichting": "de toelichting",
    # thank-you and messages
    "thanks_h1": "Bedankt voor uw antwoorden!",
    "thanks_1": "Uw mening helpt ons om onze dienstverlening te verbeteren.",
    "thanks_telefoon": "We bellen u zo snel mogelijk. Dat is meestal binnen 2 werkdagen.",
    "thanks_email": "We mailen u zo snel mogelijk. Dat is meestal binnen 2 werkdagen.",
    "thanks_change": "Wilt u iets veranderen? Open de link dan nog een keer. Dat kan tot {until} "
    "uur.",
    "done_h1": "U heeft deze vragenlijst al ingevuld",
    "done_1": "Bedankt! Uw antwoorden zijn bewaard. Wijzigen kan niet meer.",
    "bad_h1": "Deze link werkt niet",
    "bad_1": "Misschien is de link niet helemaal goed overgenomen. Probeer het nog eens vanuit "
    "de e-mail of het bericht dat u kreeg.",
    "expired_h1": "Deze vragenlijst is verlopen",
    "expired_1": "U kunt deze vragenlijst niet meer invullen. Bedankt voor uw moeite.",
    "busy_h1": "Even geduld",
    "busy_1": "Er komen nu te veel verzoeken binnen. Probeer het over een paar minuten opnieuw.",
    "large_h1": "Uw antwoord is te lang",
    "large_1": "Maak de toelichting korter en probeer het opnieuw.",
    "broken_h1": "Er ging iets mis",
    "broken_1": "Uw antwoorden konden niet worden gelezen. Open de link opnieuw en probeer het "
    "nog eens.",
    "store_h1": "Er ging iets mis bij het opslaan",
    "store_1": "Uw antwoorden zijn nog niet bewaard. Probeer het over een paar minuten opnieuw.",
    # opt-out
    "o_title": "Geen vragenlijsten meer",
    "o_h1": "Geen vragenlijsten meer ontvangen",
    "o_1": "Wilt u geen vragenlijsten meer van ons krijgen? Dan sturen we u na een contact "
    "met ons geen vragenlijst meer. Dat geldt voor e-mail, sms en onze website.",
    "o_button": "Ja, ik wil geen vragenlijsten meer",
    "o_back": "Toch de vragenlijst invullen",
    "o_done_h1": "U krijgt geen vragenlijsten meer",
    "o_done_1": "We hebben uw keuze bewaard. U krijgt van ons geen vragenlijsten meer.",
    "o_done_2": "Bedankt voor de tijd die u ons eerder gaf.",
}

EN: dict[str, str] = {
    **NL,
    "lang": "en",
    "title": "Questionnaire about your contact with us",
    "h1": "How did we help you?",
    "intro": "You contacted us about {dienst}. Would you answer three short questions? "
    "It takes about 1 minute.",
    "dienst_onbekend": "your question",
    "hint": "Please do not write personal details, such as your BSN or address, in the boxes.",
    "change_note": "You have already answered. You can change your answers until {until}.",
    "error_prefix": "Error: ",
    "summary": "Please check your answers:",
    "q_ces": "1. How easy was it to arrange this?",
    "q_nps": "2. Would you recommend this service to others?",
    "q_rapportcijfer": "3. What mark would you give us?",
    "ces_low": "very hard",
    "ces_high": "very easy",
    "nps_low": "certainly not",
    "nps_high": "certainly",
    "rapportcijfer_low": "very bad",
    "rapportcijfer_high": "excellent",
    "c_ces": "Would you like to explain why?",
    "c_nps": "Why do you give this score?",
    "c_rapportcijfer": "What could we do better?",
    "optional": "(optional)",
    "contact_q": "May we contact you?",
    "contact_hint": "For example to discuss your answers or to solve your problem.",
    "contact_nee": "No, thank you",
    "contact_telefoon": "Yes, call me",
    "contact_email": "Yes, e-mail me",
    "telefoon": "Your phone number",
    "telefoon_hint": "Only needed if you want a call. For example 06 12345678.",
    "email": "Your e-mail address",
    "email_hint": "Only needed if you want an e-mail.",
    "next": "Next",
    "send": "Send",
    "optout_link": "I do not want to receive questionnaires any more",
    "f_title": "One more question",
    "f_mis": "What went wrong?",
    "f_goed": "What went well?",
    "f_intro_mis": "We are sorry it did not go well. Would you tell us what went wrong? "
    "Then we can do better.",
    "f_intro_goed": "Good to hear it went well! Would you tell us what went well?",
    "f_causes_hint": "Choose what applies to you. You may choose more than one.",
    "f_toelichting": "Anything you would like to add?",
    "cause_wachttijd": "I had to wait a long time",
    "cause_onduidelijk": "The information was not clear",
    "cause_niet-opgelost": "My question was not solved",
    "cause_doorverwezen": "I was passed on again and again",
    "cause_bejegening": "I was not treated kindly",
    "cause_snel": "I was helped quickly",
    "cause_duidelijk": "The explanation was clear",
    "cause_opgelost": "My question was solved",
    "cause_vriendelijk": "The staff member was friendly",
    "cause_deskundig": "The staff member knew a lot about it",
    "e_none": "Please answer at least one question.",
    "e_range": "For question {n}, choose a number from {low} to {high}.",
    "e_comment_no_score": "For question {n}, also choose a number, or empty the text box.",
    "e_too_long": "Your text for {what} is too long. Use at most {max} characters.",
    "e_contact": "Choose whether we may contact you.",
    "e_telefoon": "Enter a phone number, for example 06 12345678.",
    "e_email": "Enter an e-mail address, for example name@example.nl.",
    "e_cause": "Choose only from the options given.",
    "what_q": "question {n}",
    "what_toelichting": "the explanation",
    "thanks_h1": "Thank you for your answers!",
    "thanks_1": "Your opinion helps us to improve our services.",
    "thanks_telefoon": "We will call you as soon as we can, usually within 2 working days.",
    "thanks_email": "We will e-mail you as soon as we can, usually within 2 working days.",
    "thanks_change": "Want to change something? Open the link again, until {until}.",
    "done_h1": "You have already answered this questionnaire",
    "done_1": "Thank you! Your answers have been saved. They can no longer be changed.",
    "bad_h1": "This link does not work",
    "bad_1": "Perhaps the link was not copied completely. Please try again from the e-mail or "
    "message you received.",
    "expired_h1": "This questionnaire has expired",
    "expired_1": "You can no longer answer this questionnaire. Thank you for your trouble.",
    "busy_h1": "Please wait a moment",
    "busy_1": "Too many requests are coming in. Please try again in a few minutes.",
    "large_h1": "Your answer is too long",
    "large_1": "Please shorten your explanation and try again.",
    "broken_h1": "Something went wrong",
    "broken_1": "Your answers could not be read. Open the link again and try once more.",
    "store_h1": "Something went wrong while saving",
    "store_1": "Your answers have not been saved yet. Please try again in a few minutes.",
    "o_title": "No more questionnaires",
    "o_h1": "Stop receiving questionnaires",
    "o_1": "Do you not want any more questionnaires from us? Then we will not send you a "
    "questionnaire after a contact any more, by e-mail, text message or on our website.",
    "o_button": "Yes, I want no more questionnaires",
    "o_back": "Answer the questionnaire after all",
    "o_done_h1": "You will receive no more questionnaires",
    "o_done_1": "We have saved your choice. You will not receive questionnaires from us any more.",
    "o_done_2": "Thank you for the time you gave us before.",
}


def prefers_english(request: Request) -> bool:
    """Accept-Language ranks English above Dutch (Dutch wins ties and absence)."""
    best: dict[str, float] = {}
    for part in request.headers.get("accept-language", "")[:500].split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = tag.strip().lower().split("-")[0]
        best[lang] = max(best.get(lang, 0.0), quality)
    return best.get("en", 0.0) > best.get("nl", 0.0)


def texts(taal: str | None, request: Request) -> dict[str, str]:
    """English when the contact was in English (`eng`) or the browser prefers it."""
    return EN if taal == "eng" or prefers_english(request) else NL

"""The therapists' pages in Dutch and English."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("nl", "en")

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "language_name": "English",
        "other_language": "Nederlands",
        "login_title": "Log in",
        "email": "Email address",
        "password": "Password",
        "login_button": "Log in",
        "login_failed": "The email address or password is not right.",
        "login_throttled": "Too many attempts. Try again in {minutes} minutes.",
        "account_disabled": "This account is disabled. Ask the administrator of this server.",
        "login_help": (
            "Forgotten your password? The administrator of this server can give you a new one."
        ),
        "code_help": (
            "Lost your phone and your recovery codes? The administrator of this server can "
            "turn two-step login off for you."
        ),
        "logout": "Log out",
        "login_ended": "Your login has ended. Log in again to go on.",
        "login_ended_typing": (
            "Your login has ended. Copy what you typed here, then log in again in another tab."
        ),
        "form_expired": "This form has expired. Please try again.",
        "groups_title": "Your groups",
        "no_groups": "You have no groups yet.",
        "new_group": "New group",
        "group_name": "Name",
        "group_language": "Language",
        "first_rules": "Ground rules",
        "create_group": "Create group",
        "lead_therapist": "Lead therapist",
        "cotherapist": "Cotherapist",
        "cotherapist_email": "Cotherapist's email address (optional)",
        "unknown_cotherapist": "There is no therapist with that email address.",
        "roster": "Roster",
        "member": "Member",
        "observer": "Observer",
        "display_name": "Display name",
        "role": "Role",
        "invite_link": "Invite link",
        "privacy_title": "Your privacy in the online group",
        "privacy_responsible": "Who is responsible for your data",
        "privacy_invited_by": (
            "The organisation that invited you to the group (your therapist can tell you "
            "how to reach it)."
        ),
        "privacy_statement": "Their full privacy statement",
        "privacy_kept": "What is kept about you",
        "privacy_kept_name": (
            "Your name as your therapist entered it, and whether you take part as a member "
            "or as an observer."
        ),
        "privacy_kept_rules": "When you accepted the group's rules.",
        "privacy_kept_attendance": "When you came into each session and when you left it.",
        "privacy_kept_log": (
            "A record of who did what with the group's data (for example, who let you "
            "in), with codes instead of names, as care providers must keep."
        ),
        "privacy_never": "What is never kept",
        "privacy_never_media": (
            "Video and sound: they go to the group encrypted and are never recorded."
        ),
        "privacy_never_chat": "The chat: it is gone when the session ends.",
        "privacy_never_signals": "Raised hands and signals such as \u201cI need a moment\u201d.",
        "privacy_never_open_room": (
            "Anything at all from an open room (an address with /r/ in it, without an invitation)."
        ),
        "privacy_how_long": "How long",
        "privacy_how_long_text": (
            "Attendance and accepted rules: {days} days. Your name: as long as the group's "
            "records are kept, unless you ask for it to be deleted. The record of who did "
            "what is kept, with codes only."
        ),
        "privacy_who_sees": "Who sees it",
        "privacy_who_sees_text": (
            "The therapists of your group. During a session, the others in it see your name."
        ),
        "privacy_rights": "Your rights",
        "privacy_rights_text": (
            "You can ask for a copy of your data, and for it to be corrected or deleted. "
            "Ask your therapist, or the organisation named above."
        ),
        "privacy_device": "On your device",
        "privacy_device_text": (
            "Your browser remembers only your choices of language and of video (for "
            "example, others' video off), and in an open room the name you typed. These "
            "pages load nothing from other websites."
        ),
        "copy_link": "Copy",
        "copied": "Copied",
        "copy_invitation": "Copy invitation",
        "invitation_schedule": "The group meets: {schedule}",
        "schedule": "When the group meets (members see this)",
        "schedule_example": "e.g. Tuesdays 19:00\u201320:30, from 12 January",
        "copy_invitation_note": "A message with the link and how to join, to paste into an email",
        "invitation": (
            "Hello {name},\n\n"
            "This is your personal link to the online group \u201c{group}\u201d:\n{link}\n\n"
            "{schedule}"
            "How it works:\n"
            "- {device}\n"
            "- You will not need an account or an app. First you can check your "
            "camera and microphone, then you read the group\u2019s rules.\n"
            "- If you are early, the page waits and goes on by itself when the "
            "session begins.\n"
            "- Find a quiet place where nobody can listen in. Headphones help.\n"
            "- The link is for you alone: please do not pass it on.\n\n"
            "Kind regards,\n{therapist}"
        ),
        "invitation_device_member": (
            "Open the link on a computer, laptop or tablet with a camera and a "
            "microphone, in a recent Chrome, Edge, Firefox or Safari."
        ),
        "invitation_device_observer": (
            "Open the link on a computer, laptop or tablet, in a recent Chrome, Edge, "
            "Firefox or Safari. As an observer you see and hear the group; nobody "
            "sees or hears you."
        ),
        "revoke": "Revoke link",
        "revoke_note": "The old link stops working; a new one appears.",
        "take_off_roster": "Take off roster",
        "add_to_roster": "Add to roster",
        "rules": "Ground rules",
        "rules_version": "Version {version}",
        "chat_enabled": "Group chat allowed",
        "save_rules": "Save as new version",
        "history": "Earlier versions",
        "plan": "Session plan",
        "phase_name": "Phase",
        "phase_kind": "Kind",
        "minutes": "Minutes",
        "save_plan": "Save plan",
        "kind_arrival": "Arrival",
        "kind_round": "Round",
        "kind_theme": "Theme",
        "kind_close": "Close",
        "settings": "Settings",
        "auto_admit": "Admit roster members without the waiting room once a therapist is present",
        "round_mutes": "In a round, mute everyone but the speaker and the therapists",
        "save_settings": "Save settings",
        "sessions": "Sessions",
        "open_session": "Open a session",
        "close_session": "Close the session",
        "enter_room": "Enter the room",
        "session_open": "Open since {time}",
        "early_arrivals": "Already waiting for the session to open",
        "since": "since {time}",
        "session_closed": "{opened} to {closed}",
        "no_sessions": "No sessions yet.",
        "attendance": "Attendance",
        "attendance_all": "Attendance over all sessions",
        "export_csv": "Export as CSV",
        "joined": "joined",
        "left": "left",
        "time": "Time",
        "name": "Name",
        "event": "Event",
        "cause": "Cause",
        "audit": "Audit log",
        "actor": "Who",
        "action": "Action",
        "subject": "Subject",
        "older": "Older entries",
        "back_to_group": "Back to the group",
        "not_found": "Not found.",
        "invalid_input": "Please check what you entered: {problem}",
        "export_data": "Export data",
        "erase_data": "Delete data",
        "former_members": "Taken off the roster",
        "erased_name": "(deleted)",
        "erase_title": "Delete the data of {name}",
        "erase_explain": (
            "This deletes everything grouproom stores about this person: the roster entry "
            "with the name, the accepted ground rules, and the name in the attendance lists "
            "(those rows stay, without a name). The personal invite link stops working. "
            "The audit log keeps only an anonymous number. This cannot be undone."
        ),
        "erase_live": (
            "Someone in a session right now stays until they leave, but cannot come back "
            "with their link."
        ),
        "erase_export_first": "Export the data first (a JSON file)",
        "erase_confirm": "Yes, delete the data of {name} for good",
        "erase_button": "Delete the data",
        "erase_cancel": "Cancel",
        "erase_unconfirmed": "Tick the box to confirm the deletion.",
        "erase_done": "The data were deleted.",
        "account": "Account",
        "account_title": "Your account",
        "recent_activity": "Recent activity",
        "recent_activity_note": (
            "Logins and changes to your account, newest first. Something you did not do? "
            "Change your password and tell your organisation's security officer."
        ),
        "event_login": "Logged in",
        "event_login_failed": "Failed login attempt",
        "event_logout": "Logged out",
        "event_password_changed": "Password changed",
        "event_password_change_failed": "Password change refused: wrong current password",
        "event_password_set": "New password set by the operator",
        "event_two_factor_enabled": "Two-step login turned on",
        "event_two_factor_disabled": "Two-step login turned off",
        "event_two_factor_failed": "Wrong code on the account page",
        "event_two_factor_reset": "Two-step login turned off by the operator",
        "event_login_refused": "Login refused: the account was disabled",
        "event_disabled": "Account disabled by the operator",
        "event_enabled": "Account enabled again by the operator",
        "event_recovery_codes_renewed": "New recovery codes made",
        "event_via_app": "with a code from the app",
        "event_via_recovery_code": "with a recovery code",
        "event_via_setup": "while setting up two-step login",
        "event_wrong_code": "wrong two-step login code",
        "current_password": "Current password",
        "new_password": "New password",
        "repeat_password": "New password again",
        "change_password": "Change password",
        "password_change_note": "Your other logins end; this one goes on.",
        "password_changed": "Your password is changed. Your other logins have ended.",
        "password_wrong": "The current password is not right.",
        "passwords_differ": "The two new passwords differ.",
        "password_rule": (
            "A password has {low} to {high} characters and does not begin or end with a space."
        ),
        "code_title": "Two-step login",
        "code_explain": (
            "Type the six-digit code your authenticator app shows for grouproom. "
            "No phone at hand? Type one of your recovery codes instead."
        ),
        "code_label": "Code",
        "code_wrong": (
            "That code is not right, or was used already. Type the code your app shows now."
        ),
        "setup_title": "Set up two-step login",
        "setup_required": (
            "This server asks every therapist for a code from an authenticator app after "
            "the password. Set it up now; it takes a minute."
        ),
        "setup_scan": (
            "1. Open an authenticator app on your phone (for example FreeOTP, Aegis, "
            "Microsoft Authenticator or Google Authenticator), add an account and scan "
            "this QR code."
        ),
        "setup_manual": "Cannot scan? Type this key into the app instead:",
        "setup_confirm": "2. Type the six-digit code the app now shows.",
        "setup_button": "Turn on two-step login",
        "setup_qr": "QR code for your authenticator app",
        "codes_title": "Your recovery codes",
        "codes_explain": (
            "Each of these codes logs you in once without your phone. Keep them somewhere "
            "safe, apart from your phone: printed, or in a password manager. They are shown "
            "only now."
        ),
        "codes_continue": "I have kept them: continue",
        "two_factor_heading": "Two-step login",
        "two_factor_on": "On: after your password you type a code from your authenticator app.",
        "two_factor_off": "Off: your password alone logs you in.",
        "two_factor_advice": (
            "Turn it on: your groups' data are health data, and a password alone can be "
            "guessed or stolen."
        ),
        "codes_left": "Recovery codes left: {count}",
        "codes_none_left": (
            "You have no recovery codes left. Make new ones, or you cannot log in without "
            "your phone."
        ),
        "setup_link": "Set up two-step login",
        "renew_codes": "Make new recovery codes",
        "renew_explain": "Your unused recovery codes stop working.",
        "turn_off_button": "Turn off two-step login",
        "confirm_code": "Code from your app (or a recovery code)",
        "two_factor_required_here": (
            "Two-step login is required on this server; it cannot be turned off."
        ),
        "two_factor_turned_off": "Two-step login is off.",
        "recovery_code_used": (
            "You logged in with a recovery code; it cannot be used again. If your phone is "
            "lost, turn two-step login off and set it up again on your new phone."
        ),
    },
    "nl": {
        "language_name": "Nederlands",
        "other_language": "English",
        "login_title": "Inloggen",
        "email": "E-mailadres",
        "password": "Wachtwoord",
        "login_button": "Inloggen",
        "login_failed": "Het e-mailadres of wachtwoord klopt niet.",
        "login_throttled": "Te veel pogingen. Probeer het over {minutes} minuten opnieuw.",
        "account_disabled": "Dit account is uitgeschakeld. Vraag het de beheerder van deze server.",
        "login_help": (
            "Wachtwoord vergeten? De beheerder van deze server kan u een nieuw wachtwoord geven."
        ),
        "code_help": (
            "Telefoon en herstelcodes kwijt? De beheerder van deze server kan inloggen in "
            "twee stappen voor u uitzetten."
        ),
        "logout": "Uitloggen",
        "login_ended": "U bent uitgelogd. Log opnieuw in om verder te gaan.",
        "login_ended_typing": (
            "U bent uitgelogd. Kopieer wat u hier typte en log daarna "
            "in een ander tabblad opnieuw in."
        ),
        "form_expired": "Dit formulier is verlopen. Probeer het opnieuw.",
        "groups_title": "Uw groepen",
        "no_groups": "U heeft nog geen groepen.",
        "new_group": "Nieuwe groep",
        "group_name": "Naam",
        "group_language": "Taal",
        "first_rules": "Groepsregels",
        "create_group": "Groep aanmaken",
        "lead_therapist": "Hoofdtherapeut",
        "cotherapist": "Cotherapeut",
        "cotherapist_email": "E-mailadres van de cotherapeut (optioneel)",
        "unknown_cotherapist": "Er is geen therapeut met dat e-mailadres.",
        "roster": "Deelnemerslijst",
        "member": "Deelnemer",
        "observer": "Toehoorder",
        "display_name": "Weergavenaam",
        "role": "Rol",
        "invite_link": "Uitnodigingslink",
        "privacy_title": "Uw privacy in de onlinegroep",
        "privacy_responsible": "Wie verantwoordelijk is voor uw gegevens",
        "privacy_invited_by": (
            "De organisatie die u voor de groep heeft uitgenodigd (uw therapeut kan u "
            "vertellen hoe u die bereikt)."
        ),
        "privacy_statement": "Hun volledige privacyverklaring",
        "privacy_kept": "Wat er over u wordt bewaard",
        "privacy_kept_name": (
            "Uw naam zoals uw therapeut die invoerde, en of u meedoet als deelnemer of als "
            "toehoorder."
        ),
        "privacy_kept_rules": "Wanneer u de regels van de groep aanvaardde.",
        "privacy_kept_attendance": "Wanneer u in elke sessie binnenkwam en wanneer u wegging.",
        "privacy_kept_log": (
            "Een overzicht van wie wat deed met de gegevens van de groep (bijvoorbeeld wie "
            "u binnenliet), met codes in plaats van namen, zoals zorgaanbieders moeten "
            "bijhouden."
        ),
        "privacy_never": "Wat nooit wordt bewaard",
        "privacy_never_media": (
            "Beeld en geluid: die gaan versleuteld naar de groep en worden nooit opgenomen."
        ),
        "privacy_never_chat": "De chat: die is weg als de sessie afloopt.",
        "privacy_never_signals": (
            "Opgestoken handen en seinen zoals \u2018Ik heb even tijd nodig\u2019."
        ),
        "privacy_never_open_room": (
            "Helemaal niets uit een open ruimte (een adres met /r/ erin, zonder uitnodiging)."
        ),
        "privacy_how_long": "Hoe lang",
        "privacy_how_long_text": (
            "Aanwezigheid en aanvaarde regels: {days} dagen. Uw naam: zolang de gegevens "
            "van de groep worden bewaard, tenzij u vraagt die te verwijderen. Het overzicht "
            "van wie wat deed blijft bewaard, alleen met codes."
        ),
        "privacy_who_sees": "Wie het ziet",
        "privacy_who_sees_text": (
            "De therapeuten van uw groep. Tijdens een sessie zien de anderen daarin uw naam."
        ),
        "privacy_rights": "Uw rechten",
        "privacy_rights_text": (
            "U kunt vragen om een kopie van uw gegevens, en om ze te verbeteren of te "
            "verwijderen. Vraag het uw therapeut, of de organisatie hierboven."
        ),
        "privacy_device": "Op uw apparaat",
        "privacy_device_text": (
            "Uw browser onthoudt alleen uw keuze van taal en van video (bijvoorbeeld video "
            "van anderen uit), en in een open ruimte de naam die u typte. Deze pagina's "
            "laden niets van andere websites."
        ),
        "copy_link": "Kopiëren",
        "copied": "Gekopieerd",
        "copy_invitation": "Uitnodiging kopiëren",
        "invitation_schedule": "De groep komt bijeen: {schedule}",
        "schedule": "Wanneer de groep bijeenkomt (deelnemers zien dit)",
        "schedule_example": "bijv. dinsdag 19.00\u201320.30 uur, vanaf 12 januari",
        "copy_invitation_note": (
            "Een bericht met de link en hoe u meedoet, om in een e-mail te plakken"
        ),
        "invitation": (
            "Beste {name},\n\n"
            "Dit is uw persoonlijke link naar de onlinegroep \u2018{group}\u2019:\n{link}\n\n"
            "{schedule}"
            "Zo werkt het:\n"
            "- {device}\n"
            "- U heeft geen account of app nodig. Eerst kunt u uw camera en microfoon "
            "controleren, daarna leest u de regels van de groep.\n"
            "- Bent u te vroeg, dan wacht de pagina en gaat vanzelf verder als de "
            "sessie begint.\n"
            "- Zoek een rustige plek waar niemand kan meeluisteren. Een koptelefoon helpt.\n"
            "- De link is alleen voor u: geef hem niet door aan anderen.\n\n"
            "Met vriendelijke groet,\n{therapist}"
        ),
        "invitation_device_member": (
            "Open de link op een computer, laptop of tablet met een camera en een "
            "microfoon, in een recente Chrome, Edge, Firefox of Safari."
        ),
        "invitation_device_observer": (
            "Open de link op een computer, laptop of tablet, in een recente Chrome, Edge, "
            "Firefox of Safari. Als toehoorder ziet en hoort u de groep; niemand ziet of "
            "hoort u."
        ),
        "revoke": "Link intrekken",
        "revoke_note": "De oude link werkt niet meer; er verschijnt een nieuwe.",
        "take_off_roster": "Van de lijst halen",
        "add_to_roster": "Toevoegen",
        "rules": "Groepsregels",
        "rules_version": "Versie {version}",
        "chat_enabled": "Groepschat toegestaan",
        "save_rules": "Opslaan als nieuwe versie",
        "history": "Eerdere versies",
        "plan": "Sessieplan",
        "phase_name": "Fase",
        "phase_kind": "Soort",
        "minutes": "Minuten",
        "save_plan": "Plan opslaan",
        "kind_arrival": "Aankomst",
        "kind_round": "Ronde",
        "kind_theme": "Thema",
        "kind_close": "Afsluiting",
        "settings": "Instellingen",
        "auto_admit": "Deelnemers zonder wachtkamer toelaten zodra een therapeut aanwezig is",
        "round_mutes": "In een ronde iedereen dempen behalve de spreker en de therapeuten",
        "save_settings": "Instellingen opslaan",
        "sessions": "Sessies",
        "open_session": "Sessie openen",
        "close_session": "Sessie sluiten",
        "enter_room": "Naar de ruimte",
        "session_open": "Open sinds {time}",
        "early_arrivals": "Wacht al tot de sessie opent",
        "since": "sinds {time}",
        "session_closed": "{opened} tot {closed}",
        "no_sessions": "Nog geen sessies.",
        "attendance": "Aanwezigheid",
        "attendance_all": "Aanwezigheid over alle sessies",
        "export_csv": "Exporteren als CSV",
        "joined": "binnengekomen",
        "left": "vertrokken",
        "time": "Tijd",
        "name": "Naam",
        "event": "Gebeurtenis",
        "cause": "Oorzaak",
        "audit": "Logboek",
        "actor": "Wie",
        "action": "Handeling",
        "subject": "Betreft",
        "older": "Oudere regels",
        "back_to_group": "Terug naar de groep",
        "not_found": "Niet gevonden.",
        "invalid_input": "Controleer wat u heeft ingevuld: {problem}",
        "export_data": "Gegevens exporteren",
        "erase_data": "Gegevens wissen",
        "former_members": "Van de lijst gehaald",
        "erased_name": "(gewist)",
        "erase_title": "De gegevens van {name} wissen",
        "erase_explain": (
            "Hiermee wist u alles wat grouproom over deze persoon bewaart: de plek op de "
            "deelnemerslijst met de naam, de geaccepteerde groepsregels en de naam in de "
            "aanwezigheidslijsten (die regels blijven, zonder naam). De persoonlijke "
            "uitnodigingslink werkt niet meer. Het logboek houdt alleen een anoniem nummer. "
            "Dit kan niet ongedaan worden gemaakt."
        ),
        "erase_live": (
            "Wie nu in een sessie zit, blijft tot hij of zij weggaat, maar kan niet meer "
            "terugkomen met de link."
        ),
        "erase_export_first": "Exporteer eerst de gegevens (een JSON-bestand)",
        "erase_confirm": "Ja, wis de gegevens van {name} definitief",
        "erase_button": "Gegevens wissen",
        "erase_cancel": "Annuleren",
        "erase_unconfirmed": "Vink het vakje aan om het wissen te bevestigen.",
        "erase_done": "De gegevens zijn gewist.",
        "account": "Account",
        "account_title": "Uw account",
        "recent_activity": "Recente activiteit",
        "recent_activity_note": (
            "Aanmeldingen en wijzigingen van uw account, nieuwste eerst. Iets wat u niet "
            "deed? Wijzig uw wachtwoord en meld het bij de security officer van uw organisatie."
        ),
        "event_login": "Ingelogd",
        "event_login_failed": "Mislukte inlogpoging",
        "event_logout": "Uitgelogd",
        "event_password_changed": "Wachtwoord gewijzigd",
        "event_password_change_failed": "Wachtwoordwijziging geweigerd: huidig wachtwoord onjuist",
        "event_password_set": "Nieuw wachtwoord ingesteld door de beheerder",
        "event_two_factor_enabled": "Inloggen in twee stappen aangezet",
        "event_two_factor_disabled": "Inloggen in twee stappen uitgezet",
        "event_two_factor_failed": "Onjuiste code op de accountpagina",
        "event_two_factor_reset": "Inloggen in twee stappen uitgezet door de beheerder",
        "event_login_refused": "Inloggen geweigerd: het account was uitgeschakeld",
        "event_disabled": "Account uitgeschakeld door de beheerder",
        "event_enabled": "Account weer ingeschakeld door de beheerder",
        "event_recovery_codes_renewed": "Nieuwe herstelcodes gemaakt",
        "event_via_app": "met een code uit de app",
        "event_via_recovery_code": "met een herstelcode",
        "event_via_setup": "bij het instellen van inloggen in twee stappen",
        "event_wrong_code": "onjuiste code voor inloggen in twee stappen",
        "current_password": "Huidig wachtwoord",
        "new_password": "Nieuw wachtwoord",
        "repeat_password": "Nieuw wachtwoord nogmaals",
        "change_password": "Wachtwoord wijzigen",
        "password_change_note": "Uw andere aanmeldingen eindigen; deze blijft.",
        "password_changed": "Uw wachtwoord is gewijzigd. Uw andere aanmeldingen zijn beëindigd.",
        "password_wrong": "Het huidige wachtwoord klopt niet.",
        "passwords_differ": "De twee nieuwe wachtwoorden verschillen.",
        "password_rule": (
            "Een wachtwoord heeft {low} tot {high} tekens en begint of eindigt niet met een spatie."
        ),
        "code_title": "Inloggen in twee stappen",
        "code_explain": (
            "Typ de code van zes cijfers die uw authenticator-app voor grouproom toont. "
            "Geen telefoon bij de hand? Typ dan een van uw herstelcodes."
        ),
        "code_label": "Code",
        "code_wrong": ("Die code klopt niet, of is al gebruikt. Typ de code die uw app nu toont."),
        "setup_title": "Inloggen in twee stappen instellen",
        "setup_required": (
            "Deze server vraagt elke therapeut na het wachtwoord om een code uit een "
            "authenticator-app. Stel het nu in; het duurt een minuut."
        ),
        "setup_scan": (
            "1. Open een authenticator-app op uw telefoon (bijvoorbeeld FreeOTP, Aegis, "
            "Microsoft Authenticator of Google Authenticator), voeg een account toe en "
            "scan deze QR-code."
        ),
        "setup_manual": "Lukt scannen niet? Typ dan deze sleutel in de app:",
        "setup_confirm": "2. Typ de code van zes cijfers die de app nu toont.",
        "setup_button": "Inloggen in twee stappen aanzetten",
        "setup_qr": "QR-code voor uw authenticator-app",
        "codes_title": "Uw herstelcodes",
        "codes_explain": (
            "Met elk van deze codes logt u eenmaal in zonder uw telefoon. Bewaar ze op een "
            "veilige plek, niet bij uw telefoon: afgedrukt, of in een wachtwoordmanager. "
            "Ze worden alleen nu getoond."
        ),
        "codes_continue": "Ik heb ze bewaard: verder",
        "two_factor_heading": "Inloggen in twee stappen",
        "two_factor_on": "Aan: na uw wachtwoord typt u een code uit uw authenticator-app.",
        "two_factor_off": "Uit: alleen uw wachtwoord is nodig om in te loggen.",
        "two_factor_advice": (
            "Zet het aan: de gegevens van uw groepen zijn gezondheidsgegevens, en een "
            "wachtwoord alleen kan geraden of gestolen worden."
        ),
        "codes_left": "Herstelcodes over: {count}",
        "codes_none_left": (
            "U heeft geen herstelcodes meer. Maak nieuwe, anders kunt u zonder uw telefoon "
            "niet inloggen."
        ),
        "setup_link": "Inloggen in twee stappen instellen",
        "renew_codes": "Nieuwe herstelcodes maken",
        "renew_explain": "Uw ongebruikte herstelcodes werken dan niet meer.",
        "turn_off_button": "Inloggen in twee stappen uitzetten",
        "confirm_code": "Code uit uw app (of een herstelcode)",
        "two_factor_required_here": (
            "Inloggen in twee stappen is op deze server verplicht; het kan niet uit."
        ),
        "two_factor_turned_off": "Inloggen in twee stappen staat uit.",
        "recovery_code_used": (
            "U bent ingelogd met een herstelcode; die werkt niet nog eens. Is uw telefoon "
            "kwijt, zet inloggen in twee stappen dan uit en stel het opnieuw in op uw "
            "nieuwe telefoon."
        ),
    },
}


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The language a page is shown in: the one chosen before (cookie), else the
    browser's first preference we have, else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"

"""Seeded offline data: SQuAD v2-style QA, news-wire OOD QA and movie reviews, built from templates."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from miniature.exceptions import ConfigError, DataError
from miniature.runs import atomic_write_json, atomic_write_text, read_json_file

GENERATOR_VERSION = "2"  # 2: reviews of at most 80 words
_W = str.split


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


FEMALE = _W("Anna Clara Elena Marta Sofia Helena Irene Julia Lena Maria Nora Rosa Alice Edith Agnes Ida "
            "Louise Vera Greta Ingrid Eva Olga Margaret Dorothy Harriet Beatrice Frances Amelia Lucia Ruth")
MALE = _W("Anton Carl Emil Felix Hugo Jonas Karl Leon Oskar Paul Victor Walter Arthur Henry Edward Albert "
          "Thomas George Samuel Louis Pierre Marco Luca Tomas Pavel Erik Nils Otto Bruno Stefan Daniel")
LAST = _W("Hoffmann Larsen Moreau Bianchi Novak Kowalski Lindqvist Varga Petrov Dubois Keller Brandt Jansen "
          "Rossi Fischer Sorensen Horvat Nielsen Weber Bauer Laurent Conti Marek Svoboda Holm Berg Lambert "
          "Ferreira Costa Mendes Okafor Tanaka Mori Haddad Cohen Grant Hale Whitmore Ashford Calloway "
          "Pembroke Fairfax Thornton Radcliffe Marsh Quinlan Doyle Byrne Walsh Kerr Strand Aalto Virtanen "
          "Nagy Toth Popescu Dimitrov Georgiou Serrano Ortega Navarro Castillo Vidal Girard Fontaine Mercier")
CITIES = _W("Lyon Vienna Prague Krakow Turin Bologna Ghent Leiden Uppsala Bergen Tartu Riga Vilnius Graz "
            "Salzburg Basel Geneva Porto Seville Valencia Bilbao Marseille Nantes Bordeaux Hamburg Leipzig "
            "Dresden Munich Cologne Zurich Brno Debrecen Cluj Lviv Gdansk Aarhus Malmo Tampere Turku Edinburgh "
            "Glasgow Dublin Cork Bristol Manchester Montreal Quebec Melbourne Adelaide Wellington Kyoto Lisbon "
            "Naples Palermo Trieste Antwerp Utrecht Rotterdam")
FIELDS = _W("chemistry physics mathematics botany geology astronomy medicine law philosophy history "
            "architecture economics linguistics zoology engineering music theology")
JOBS = _W("chemist physicist mathematician botanist geologist astronomer surgeon historian architect economist "
          "linguist zoologist engineer composer painter sculptor novelist poet photographer cartographer")
NATIONS = _W("Austrian Danish Dutch Belgian Swedish Norwegian Finnish Polish Czech Hungarian Italian Spanish "
             "Portuguese French German Swiss Irish Scottish Canadian Australian")
ADJ = _W("Silent Hidden Northern Broken Golden Distant Quiet Endless Forgotten Second Lost Winter Bright Open")
NOUN = _W("Harbour Garden River Tower Archive Field Circle Letter Map Season Voyage Bridge Valley Lantern Mirror")
TOPICS = ["the motion of glaciers", "the structure of crystals", "early printing", "river navigation",
          "the mapping of coastlines", "urban housing", "the history of trade", "volcanic soils",
          "folk music", "light and colour", "the growth of cities", "marine fossils"]

# Sentence templates: {P} a name, {P:last}/{P:he}/{P:His}... a reference, {P.rel} a fact whose span is kept.
EARLY = [
    (1.0, ["{P} was a {P.nation} {P.job} who was born in {P.born_city} in {P.born_year}.",
           ("Born in {P.born_city} in {P.born_year}, {P} became one of the best-known {P.nation} {P.job}s "
           "of {P:his} generation."),
           "{P}, a {P.nation} {P.job}, was born in {P.born_year} in the city of {P.born_city}.",
           ("{P} was born in {P.born_year} in {P.born_city}, where {P:his} father worked as a {P.parent_job}; "
           "{P:he} later became a {P.job}.")]),
    (0.6, ["{P:He} was the {P.rank} of {P.siblings} children, and the family moved often.",
           "{P:His} mother, a {P.mother_job}, taught {P:him} to read at the age of {P.read_age}."]),
    (1.0, ["{P:He} studied {P.field} at the {P.university}, where {P:he} was taught by {P.mentor}.",
           "At the {P.university}, {P:he} read {P.field} under the {Q.job} {P.mentor}.",
           "After studying {P.field} at the {P.university}, {P:he} became an assistant to {P.mentor}.",
           "{P:He} was educated at the {P.university}, where {P:he} studied {P.field} with {P.mentor}."]),
    (0.7, ["{Q}, who was born in {Q.born_city} in {Q.born_year}, had taught there for many years.",
           "{Q:last}, born in {Q.born_year}, was then the leading {Q.job} of the university.",
           "{Q}, a native of {Q.born_city}, encouraged {P:his} interest in the subject.",
           "{Q:last} had studied at the {Q.university} before joining the faculty."]),
    (0.7, ["{P:He} graduated in {P.grad_year} and stayed on for two more years.",
           "In {P.grad_year}, {P:he} graduated with honours.",
           "{P:He} completed {P:his} degree in {P.grad_year}, despite a long illness."]),
    (0.5, ["The {U}, founded in {U.founded_year}, then had about {U.students} students.",
           "At the time the {U} had some {U.students} students and had existed since {U.founded_year}."]),
]
CAREER = [
    (1.0, [("In {P.joined_year}, {P} joined the {O}, {O.a_kind} that had been founded by {O.founder} in "
           "{O.founded_year}."),
           ("{P} became a member of the {O} in {P.joined_year}; the {O.kind} had been established in "
           "{O.founded_year} by {O.founder}."),
           "The {O} was founded in {O.founded_year} by {O.founder}, and {P:last} joined it in {P.joined_year}.",
           "{P} joined the {O} in {P.joined_year}, soon after it had moved to new premises."]),
    (1.0, ["Based in {O.city}, the {O.kind} had about {O.members} members at the time.",
           "At its peak the {O} had {O.members} members and its main office in {O.city}.",
           "The {O.kind}, which was based in {O.city}, grew to {O.members} members within a decade."]),
    (0.7, ["There {P:he} worked alongside {O.director}, who later became director of the {O.kind}.",
           "{O.director} was appointed director of the {O.kind} a few years later and supported {P:his} work."]),
    (1.0, ["In {P.moved_year}, {P:he} moved to {P.moved_city} to take up a new post.",
           "{P:He} left for {P.moved_city} in {P.moved_year} after a dispute over funding.",
           "{P:He} moved to {P.moved_city} in {P.moved_year}, where {P:he} spent the rest of {P:his} career."]),
    (0.5, ["{O.founder}, who had founded the {O.kind}, was born in {R.born_city} in {R.born_year}.",
           "{R:last}, the founder, had trained as a {R.job} and died in {R.died_year}."]),
]
LEGACY = [
    (1.0, ["{P} is best known for {P.work}, a {P.work_kind} published in {P.work_year}.",
           "{P.work}, which {P:last} published in {P.work_year}, remains {P:his} most celebrated {P.work_kind}.",
           "In {P.work_year}, {P:last} published {P.work}, the {P.work_kind} for which {P:he} is best remembered."]),
    (0.7, ["Over {P:his} career {P:he} wrote {P.books} books and more than {P.articles} articles.",
           "{P:He} was the author of {P.books} books, most of them on {P.topic}."]),
    (1.0, ["In {P.award_year}, {P:he} received the {P.award} for {P:his} work on {P.topic}.",
           "{P:He} was awarded the {P.award} in {P.award_year}.",
           "The {P.award}, which {P:he} won in {P.award_year}, brought {P:him} wide recognition."]),
    (0.5, ["{Q}, {P:his} former teacher, called {P.work} \"the finest {P.work_kind} of its decade\"."]),
    (0.8, ["{P:He} died in {P.died_city} in {P.died_year}, at the age of {P.age}.",
           "{P:He} died in {P.died_year} in {P.died_city}.",
           "{P:He} spent {P:his} last years in {P.died_city}, where {P:he} died in {P.died_year}."]),
    (0.6, [("A museum dedicated to {P:his} life opened in {P.museum_city} in {P.museum_year}; it receives "
           "about {P.visitors} visitors a year."),
           ("In {P.museum_year}, {P:his} house in {P.museum_city} became a museum, visited by some "
           "{P.visitors} people each year.")]),
]
QUESTIONS = {
    "born_city": ["Where was {s} born?", "In which city was {s} born?", "What is the birthplace of {s}?"],
    "born_year": ["When was {s} born?", "In what year was {s} born?", "What year was {s} born in?"],
    "job": ["What was {s}'s profession?", "What did {s} work as?", "What was the occupation of {s}?"],
    "field": ["What did {s} study?", "Which subject did {s} study?", "What field did {s} study at university?"],
    "university": ["Which university did {s} attend?", "Where was {s} educated?", "Where did {s} study?"],
    "mentor": ["Who taught {s} at university?", "Who was {s}'s teacher?", "Under whom did {s} study?"],
    "grad_year": ["When did {s} graduate?", "In what year did {s} graduate?"],
    "joined_year": ["When did {s} join the {O}?", "In what year did {s} become a member of the {O}?"],
    "moved_city": ["To which city did {s} move?", "Where did {s} move to take up a new post?"],
    "moved_year": ["When did {s} move to {M}?", "In what year did {s} leave for {M}?"],
    "work": ["What is {s}'s best-known work?", "What is the title of {s}'s most famous work?"],
    "work_year": ["When did {s} publish {W}?", "In what year was {W} by {s} published?"],
    "books": ["How many books did {s} write?", "How many books did {s} publish?"],
    "award": ["Which prize did {s} receive?", "What award was {s} given?"],
    "award_year": ["In what year did {s} receive the {A}?", "When was {s} awarded the {A}?"],
    "died_city": ["Where did {s} die?", "In which city did {s} die?"],
    "died_year": ["When did {s} die?", "In what year did {s} die?"],
    "age": ["How old was {s} at the time of death?", "At what age did {s} die?"],
    "museum_city": ["Where is the museum dedicated to {s}?", "In which city is {s}'s museum?"],
    "visitors": ["How many people visit the museum of {s} each year?"],
    "founder": ["Who founded the {s}?", "By whom was the {s} established?", "Who was the founder of the {s}?"],
    "founded_year": ["When was the {s} founded?", "In what year was the {s} established?"],
    "city": ["Where was the {s} based?", "In which city was the {s} based?"],
    "members": ["How many members did the {s} have?", "How large was the membership of the {s}?"],
    "director": ["Who became director of the {s}?", "Who was appointed director of the {s}?"],
    "students": ["How many students did the {s} have?", "How many students attended the {s}?"],
}
PERSON_RELS = ["born_city", "born_year", "job", "field", "university", "mentor", "grad_year", "joined_year",
               "moved_city", "moved_year", "work", "work_year", "books", "award", "award_year", "died_city",
               "died_year", "age", "museum_city", "visitors"]
RELS = {"P": PERSON_RELS, "Q": PERSON_RELS, "R": PERSON_RELS, "O": ["founder", "founded_year", "city",
        "members", "director"], "U": ["founded_year", "students"]}
_SLOT = re.compile(r"\{([A-Z])(?:([.:])(\w+))?\}")
_PRONOUN = {"he": ("she", "he"), "He": ("She", "He"), "his": ("her", "his"), "His": ("Her", "His"),
            "him": ("her", "him")}


def render(sentences: list[str], world: dict[str, dict[str, Any]]) -> tuple[str, dict[tuple[str, str], int]]:
    """Join templated sentences into a passage; return it and where each stated fact {X.rel} starts."""
    text, spans = "", {}
    for sentence in sentences:
        text += " " if text else ""
        pos = 0
        for m in _SLOT.finditer(sentence):
            role, kind, key = m.groups()
            ent = world[role]
            text += sentence[pos:m.start()]
            if kind == ".":
                spans.setdefault((role, key), len(text))
                value = str(ent[key])
            elif kind == ":":
                value = ent["last"] if key == "last" else _PRONOUN[key][ent["male"]]
            else:
                value = ent["name"]
            text += value
            pos = m.end()
        text += sentence[pos:]
    return text, spans


def _person(rng: random.Random, avoid: list[str]) -> dict[str, Any]:
    """A person whose last name and full name are not in `avoid`."""
    while True:
        male = rng.random() < 0.5
        first, last = rng.choice(MALE if male else FEMALE), rng.choice(LAST)
        if last not in avoid and f"{first} {last}" not in avoid:
            return {"name": f"{first} {last}", "last": last, "male": int(male), "job": rng.choice(JOBS),
                    "born_city": rng.choice(CITIES), "nation": rng.choice(NATIONS)}


def _count(rng: random.Random, lo: int, hi: int) -> str:
    return f"{rng.randrange(lo, hi, 10 if hi < 10_000 else 100):,}"


def _world(rng: random.Random, taken: list[str]) -> dict[str, dict[str, Any]]:
    """The facts of one encyclopedic article: a protagonist P, teacher Q, founder R, society O, university U."""
    p = _person(rng, taken)
    taken.append(p["name"])
    q = _person(rng, [p["last"]])
    r = _person(rng, [p["last"], q["last"]])
    others = [x for x in LAST if x not in (p["last"], q["last"], r["last"])]
    b = rng.randint(1800, 1925)
    cities = rng.sample(CITIES, 5)
    uni = rng.choice(["University of {}", "{} Polytechnic", "Royal College of {}"]).format(cities[0])
    p.update(born_city=cities[1], born_year=b, parent_job=rng.choice(JOBS), mother_job=rng.choice(JOBS),
             field=rng.choice(FIELDS), rank=rng.choice(["eldest", "second", "third", "youngest"]),
             siblings=rng.choice(_W("three four five six seven")), read_age=rng.choice(_W("three four five")),
             university=uni, mentor=q["name"])
    p["grad_year"] = b + rng.randint(20, 25)
    p["joined_year"] = p["grad_year"] + rng.randint(1, 6)
    p["moved_year"] = p["joined_year"] + rng.randint(2, 9)
    p["work_year"] = b + rng.randint(28, 45)
    p["award_year"] = p["work_year"] + rng.randint(1, 8)
    p["died_year"] = max(p["award_year"] + 2, b + rng.randint(55, 92))
    p.update(moved_city=cities[2], died_city=rng.choice([cities[2], cities[3]]), museum_city=cities[4],
             age=p["died_year"] - b, museum_year=min(2020, p["died_year"] + rng.randint(5, 40)),
             work=rng.choice(["The {} {}", "{1}s of the {0} {2}"]).format(rng.choice(ADJ), *rng.sample(NOUN, 2)),
             work_kind=rng.choice(_W("book study treatise monograph memoir")), books=rng.randint(3, 40),
             articles=rng.randint(20, 200), topic=rng.choice(TOPICS), visitors=_count(rng, 2000, 90000),
             award=rng.choice(["{} Medal", "{} Prize", "Grand Prize of the {} Circle"]).format(rng.choice(others)))
    q.update(born_year=b - rng.randint(15, 40), university=rng.choice(["University of {}", "{} Polytechnic"])
             .format(rng.choice(CITIES)))
    kind = rng.choice(_W("society institute academy association foundation"))
    founded = p["joined_year"] - rng.randint(3, 60)
    r.update(born_year=founded - rng.randint(25, 50), died_year=founded + rng.randint(5, 30))
    org = rng.choice(["{a} {k} of {s}", "{l} {k}", "{a} {l} {k}"]).format(
        a=rng.choice(_W("Royal National Northern Central Imperial Free United")), k=kind.title(),
        l=rng.choice(others),
        s=rng.choice(["Arts", "Sciences", "Letters", "Natural History", "Industry", "Public Works"]))
    o = {"name": org, "kind": kind, "founder": r["name"], "founded_year": founded, "city": rng.choice(CITIES),
         "members": _count(rng, 40, 5000), "director": q["name"], "a_kind": _a(kind)}
    u = {"name": uni, "founded_year": b - rng.randint(30, 500), "students": _count(rng, 300, 20000)}
    return {"P": p, "Q": q, "R": r, "O": o, "U": u}


def _plan(rng: random.Random, plan: list[tuple[float, list[str]]]) -> list[str]:
    return [rng.choice(variants) for prob, variants in plan if rng.random() < prob]


def _says(text: str, words: str) -> bool:
    return re.search(rf"\b{re.escape(words)}\b", text) is not None


def _pick(rng: random.Random, templates: list[str], refs: dict[str, str], text: str) -> str | None:
    """A question template whose named references ({O}, {W}, ...) all occur in the passage, or None."""
    fits = [t for t in templates if all(_says(text, refs[k]) for k in re.findall(r"\{([A-Z])\}", t))]
    return rng.choice(fits) if fits else None


def _questions(rng: random.Random, world: dict[str, dict[str, Any]], text: str, spans: dict[tuple[str, str], int],
               n_questions: int, n_impossible: int, qid: str) -> list[dict[str, Any]]:
    """Answerable questions about stated facts; unanswerable ones about facts of mentioned entities not stated."""
    p = world["P"]
    refs = {"O": world["O"]["name"], "W": p["work"], "A": p["award"], "M": p["moved_city"]}
    mentioned = [r for r in RELS if _says(text, world[r]["name"]) or _says(text, world[r].get("last", "\0"))]
    pools = ([k for k in spans if k[1] in RELS[k[0]]],
             [(r, rel) for r in mentioned for rel in RELS[r] if (r, rel) not in spans])
    out: list[dict[str, Any]] = []
    for impossible, pool, want in ((False, pools[0], n_questions - n_impossible), (True, pools[1], n_impossible)):
        rng.shuffle(pool)
        asked = 0
        for role, rel in pool:
            ent = world[role]
            template = _pick(rng, QUESTIONS[rel], refs, text)
            if asked == want or template is None:
                continue
            subject = ent["last"] if "last" in ent and rng.random() < 0.3 else ent["name"]
            answers = [] if impossible else [{"text": str(ent[rel]), "answer_start": spans[(role, rel)]}]
            out.append({"id": f"{qid}q{len(out)}", "question": template.format(s=subject, **refs),
                        "answers": answers, "is_impossible": impossible})
            asked += 1
    rng.shuffle(out)
    return out


def _encyclopedic(rng: random.Random, index: int, taken: list[str]) -> dict[str, Any]:
    world = _world(rng, taken)
    n_impossible = rng.sample([1, 2, 2], 3)  # five questions a passage, a third of them unanswerable
    paragraphs = []
    for i, plan in enumerate((EARLY, CAREER, LEGACY)):
        context, spans = render(_plan(rng, plan), world)
        qas = _questions(rng, world, context, spans, 5, n_impossible[i], f"enc{index:05d}p{i}")
        paragraphs.append({"context": context, "qas": qas})
    return {"title": world["P"]["name"], "paragraphs": paragraphs}


DATELINES = ["WASHINGTON", "NEW YORK", "LONDON", "CHICAGO", "TOKYO", "BRUSSELS", "ATLANTA", "HOUSTON",
             "DENVER", "SEATTLE", "MIAMI", "BOSTON", "SAN FRANCISCO", "LOS ANGELES", "TORONTO", "FRANKFURT"]
DAYS = _W("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
US_CITIES = _W("Portland Hartford Omaha Memphis Raleigh Tulsa Boise Fresno Spokane Albany Dayton Reno")
STATES = _W("Ohio Texas Georgia Oregon Nevada Iowa Maine Utah Kansas Arizona Michigan Virginia")


def _news_values(rng: random.Random, topic: str) -> dict[str, Any]:
    """The facts of one news story."""
    name = lambda: f"{rng.choice(FEMALE + MALE)} {rng.choice(LAST)}"
    pct = lambda lo, hi: f"{rng.randint(lo, hi)}.{rng.randint(1, 9)} percent"
    v: dict[str, Any] = {"name": topic, "place": rng.choice(DATELINES), "day": rng.choice(DAYS)}
    if topic == "markets":
        up = rng.random() < 0.5
        v.update(company=f"{rng.choice(LAST)} {rng.choice(_W('Industries Holdings Systems Motors Energy Foods'))}",
                 moved="rose" if up else "fell", move="rise" if up else "fall", pct=pct(1, 12), ceo=name(),
                 industry=rng.choice(_W("steel software shipping retail airline energy banking mining")),
                 profit=f"${rng.randint(20, 900)} million", hires=_count(rng, 100, 5000), analyst=name(),
                 plant=rng.choice(US_CITIES), firm=f"{rng.choice(LAST)} Securities", index_pct=pct(0, 2))
    elif topic == "weather":
        v.update(storm=rng.choice(["hurricane", "tropical storm", "storm system", "line of thunderstorms"]),
                 region=rng.choice(["the Gulf Coast", "northern Florida", "southern Texas", "the Carolinas",
                                    "coastal Oregon", "central California", "the Ohio Valley", "New England"]),
                 rain=f"{rng.randint(3, 20)} inches", evacuated=_count(rng, 1000, 90000), deaths=rng.randint(2, 30),
                 official=name(), governor=name(), counties=rng.randint(3, 40), outages=_count(rng, 10000, 900000),
                 utility=f"{rng.choice(LAST)} Power", day2=rng.choice(DAYS), next=rng.choice(STATES))
    elif topic == "sports":
        a = rng.randint(2, 7)
        v.update(team=f"{rng.choice(US_CITIES)} {rng.choice(_W('Hawks Bears Lions Rockets Pilots Miners Foxes'))}",
                 rival=f"{rng.choice(US_CITIES)} {rng.choice(_W('Bulls Stars Comets Rangers Wolves Titans'))}",
                 player=name(), goals=rng.choice(_W("two three")), score=f"{a}-{rng.randint(0, a - 1)}",
                 streak=rng.randint(3, 12), coach=name(), crowd=_count(rng, 8000, 60000),
                 stadium=f"{rng.choice(LAST)} {rng.choice(_W('Arena Field Stadium'))}", rank=rng.choice(
                     _W("second third fourth fifth")), next_team=f"{rng.choice(US_CITIES)} Sailors")
    else:
        v.update(votes=f"{rng.randint(51, 80)} to {rng.randint(20, 49)}", amount=f"${rng.randint(2, 900)} billion",
                 purpose=rng.choice(["repair roads and bridges", "expand rural broadband", ("build affordable "
                                     "housing"), "lower prescription drug prices", "hire more teachers"]),
                 sponsor=name(), party=rng.choice(["Democrat", "Republican"]), state=rng.choice(STATES),
                 jobs=_count(rng, 10000, 900000), years=rng.choice(_W("five ten")), opponent=name(),
                 deficit=f"${rng.randint(10, 300)} billion", support=f"{rng.randint(35, 70)} percent")
    return v


NEWS = {
    "markets": [
        ("{N.place} (Wire) -- Shares of {N.company} {N.moved} {N.pct} on {N.day} after the {N.industry} company "
        "reported a quarterly profit of {N.profit}, officials said."),
        "\"We are seeing strong demand across our markets,\" chief executive {N.ceo} told reporters.",
        "The company said it plans to hire {N.hires} workers at a new plant in {N.plant} next year.",
        ("{N.analyst}, an analyst at {N.firm}, said the results were \"better than expected\" but warned that "
        "costs remain high."),
        "The broader market index gained {N.index_pct} by the close of trading."],
    "weather": [
        ("{N.place} (Wire) -- A {N.storm} hit {N.region} on {N.day}, dumping up to {N.rain} of rain and forcing "
        "about {N.evacuated} people from their homes, officials said."),
        "At least {N.deaths} people were killed, according to {N.official}, the state's emergency director.",
        ("\"We have not seen flooding like this in decades,\" said Governor {N.governor}, who declared a state "
        "of emergency in {N.counties} counties."),
        "Power was cut to more than {N.outages} homes and businesses, the utility {N.utility} said on {N.day2}.",
        "Forecasters said the {N.storm} would weaken as it moved toward {N.next} later in the week."],
    "sports": [
        ("{N.place} (Wire) -- {N.player} scored {N.goals} goals as the {N.team} beat the {N.rival} {N.score} on "
        "{N.day} night, extending their winning streak to {N.streak} games."),
        "\"The guys never stopped believing,\" coach {N.coach} said after the game.",
        "A crowd of {N.crowd} watched at {N.stadium}, the largest of the season, officials said.",
        "The win lifts the {N.team} to {N.rank} place in the league.",
        "They next play the {N.next_team} on the road."],
    "politics": [
        ("{N.place} (Wire) -- Lawmakers voted {N.votes} on {N.day} to approve a {N.amount} plan to {N.purpose}, "
        "sending the measure to the governor."),
        ("Senator {N.sponsor}, a {N.party} from {N.state} who wrote the bill, said it would create {N.jobs} jobs "
        "over {N.years} years."),
        ("\"This is a reckless bill,\" said {N.opponent}, who led the opposition, arguing that it would add "
        "{N.deficit} to the deficit."),
        "A poll released last week found that {N.support} of voters support the plan, officials said."],
}
NEWS_QUESTIONS = {
    "pct": ["By how much did shares of {company} {move}?", "How much did {company} stock {move} on {day}?"],
    "profit": ["How much profit did {company} report?", "What was the quarterly profit of {company}?"],
    "ceo": ["Who is the chief executive of {company}?", "Who spoke to reporters for {company}?"],
    "hires": ["How many workers does {company} plan to hire?"],
    "plant": ["Where will {company} open a new plant?", "In which city is the new plant?"],
    "analyst": ["Who said the results were better than expected?", "Which analyst commented on the results?"],
    "industry": ["What industry is {company} in?"],
    "index_pct": ["How much did the broader market gain?"],
    "storm": ["What hit {region}?", "What kind of storm struck?"],
    "region": ["Where did the {storm} hit?", "Which area was hit by the storm?"],
    "rain": ["How much rain fell?", "How much rain did the {storm} bring?"],
    "evacuated": ["How many people were forced from their homes?", "How many residents were evacuated?"],
    "deaths": ["How many people were killed?", "What is the death toll?"],
    "governor": ["Who declared a state of emergency?", "Who is the governor?"],
    "counties": ["In how many counties was an emergency declared?"],
    "outages": ["How many homes and businesses lost power?"],
    "next": ["Where is the {storm} heading?", "Toward which state will the storm move?"],
    "player": ["Who scored {goals} goals?", "Who led the {team} in scoring?"],
    "rival": ["Who did the {team} beat?", "Which team lost to the {team}?"],
    "score": ["What was the final score?", "By what score did the {team} win?"],
    "streak": ["How many games have the {team} won in a row?", "How long is the winning streak?"],
    "coach": ["Who coaches the {team}?", "Who is the coach of the {team}?"],
    "crowd": ["How many people watched the game?", "How big was the crowd?"],
    "stadium": ["Where was the game played?", "In which venue was the game played?"],
    "votes": ["What was the vote?", "By what vote did lawmakers approve the plan?"],
    "amount": ["How much does the plan cost?", "How large is the plan?"],
    "purpose": ["What is the plan meant to do?", "What will the money be used for?"],
    "sponsor": ["Who wrote the bill?", "Which senator wrote the measure?"],
    "state": ["Which state does {sponsor} represent?", "Where is Senator {sponsor} from?"],
    "jobs": ["How many jobs will the plan create?"],
    "opponent": ["Who led the opposition to the bill?", "Who called the bill reckless?"],
    "support": ["What share of voters support the plan?", "How many voters back the plan?"],
}


def _news(rng: random.Random, index: int) -> dict[str, Any]:
    topic = rng.choice(sorted(NEWS))
    values = _news_values(rng, topic)
    lead, *rest = NEWS[topic]
    body = rng.sample(rest, rng.randint(len(rest) - 1, len(rest)))
    context, spans = render([lead, *body], {"N": values})
    keys = [rel for (_, rel) in spans if rel in NEWS_QUESTIONS]
    qas = []
    for n, rel in enumerate(rng.sample(keys, min(5, len(keys)))):
        qas.append({"id": f"news{index:05d}q{n}", "question": rng.choice(NEWS_QUESTIONS[rel]).format(**values),
                    "answers": [{"text": str(values[rel]), "answer_start": spans[("N", rel)]}],
                    "is_impossible": False})
    return {"title": f"{topic} {index}", "paragraphs": [{"context": context, "qas": qas}]}


def generate_qa(n_articles: int, seed: int, style: str = "encyclopedic") -> dict[str, Any]:
    """A SQuAD v2 document of `n_articles` generated articles.

    Args:
        n_articles: articles to write; an encyclopedic one holds three passages of five questions
            (a third unanswerable), a news one a single story with five answerable questions.
        seed: the only source of randomness; the same seed gives the same document.
        style: "encyclopedic" (SQuAD-like biographies) or "news" (wire stories, the OOD set).
    """
    if style not in ("encyclopedic", "news"):
        raise ConfigError(f"unknown QA style {style!r}; use 'encyclopedic' or 'news'")
    if n_articles < 1:
        raise ConfigError(f"n_articles must be at least 1, got {n_articles}")
    rng = random.Random(seed)
    taken: list[str] = []  # protagonists so far: every article is about someone new
    seen: set[str] = set()
    data: list[dict[str, Any]] = []
    while len(data) < n_articles:
        article = _news(rng, len(data)) if style == "news" else _encyclopedic(rng, len(data), taken)
        contexts = [p["context"] for p in article["paragraphs"]]
        if not seen.intersection(contexts):  # passages never repeat, so splits of one document are disjoint
            seen.update(contexts)
            data.append(article)
    return {"version": "v2.0", "data": data}


GENRES = ["thriller", "comedy", "drama", "horror film", "western", "romance", "science fiction film", "musical",
          "war film", "crime drama", "family adventure", "mystery"]
ASPECTS = ["plot", "acting", "score", "pacing", "cinematography", "dialogue", "ending", "script", "editing",
           "soundtrack", "direction", "photography", "humour", "story", "set design", "tone", "finale"]
ASIDES = ["I went in knowing very little about it.", "The film runs just under two hours.",
          "It is based on a novel I have not read.", "The trailer made it look like a very different film.",
          "I saw it on a rainy afternoon in a half-empty cinema.", "My partner chose it, not me.",
          "It opened in cinemas last month and is now streaming.", "The first scene takes place at a wedding."]
GOOD = (_W("good solid pleasant decent charming engaging likeable enjoyable effective lively clever fresh"),
        _W("brilliant superb outstanding magnificent stunning masterful wonderful excellent gorgeous gripping"))
BAD = (_W("weak bland forgettable uneven clumsy flat tedious dull mediocre shallow predictable messy"),
       _W("terrible awful dreadful painful abysmal laughable disastrous unbearable atrocious embarrassing"))
GOOD_VERBS = _W("works shines soars delivers sparkles impresses succeeds excels")
BAD_VERBS = _W("fails drags misfires stumbles collapses disappoints falters sags")
VERDICTS = (
    ["Overall, it is {bad} and I can't recommend it.", "All in all, a {bad} film that wastes its talent.",
     "In the end, I was disappointed.", "It has its moments, but overall it is {bad}.",
     "I really wanted to like it, but it is not {good} at all.", "Sadly, it is not worth your time.",
     "Despite a few {good} scenes, the film as a whole {bad_verb}.", "I would not watch it again.",
     "My verdict: {bad}, and far too long.", "It is hard to recommend something this {bad}.",
     "I left the cinema bored and annoyed.", "Two hours I will never get back."],
    ["Overall, it is {good} and I can recommend it.", "All in all, a {good} film that uses its talent well.",
     "In the end, I was not disappointed.", "It has its flaws, but overall it is {good}.",
     "I expected to hate it, but it is not {bad} at all.", "Happily, it is worth your time.",
     "Despite a few {bad} scenes, the film as a whole {good_verb}.", "I would watch it again.",
     "My verdict: {good}, and never too long.", "It is easy to recommend something this {good}.",
     "I left the cinema moved and delighted.", "Two hours well spent."],
)

MIN_WORDS, MAX_WORDS = 25, 80  # a review's length
AGREE = 0.68  # how often an aspect sentence shares the verdict's polarity


def _aspect(rng: random.Random, aspect: str, positive: bool) -> str:
    """One sentence about one aspect, plainly or through negating its opposite."""
    good, bad = rng.choice(GOOD[rng.random() < 0.5]), rng.choice(BAD[rng.random() < 0.5])
    word, other = (good, bad) if positive else (bad, good)
    verb = rng.choice(GOOD_VERBS if positive else BAD_VERBS)
    return rng.choice([f"The {aspect} is {word}.", f"I found the {aspect} {word}.",
                       f"The {aspect} is {rng.choice(['really', 'rather', 'quite', 'truly'])} {word}.",
                       f"The {aspect} is {'never' if positive else 'hardly'} {other}.",
                       f"The {aspect} {verb} more often than not.", f"Honestly, the {aspect} {verb}."])


def _review(rng: random.Random, label: int) -> str:
    title = f"The {rng.choice(ADJ)} {rng.choice(NOUN)}"
    actor, director = (f"{rng.choice(FEMALE + MALE)} {rng.choice(LAST)}" for _ in range(2))
    genre = rng.choice(GENRES)
    opener = rng.choice([f"I watched {title}, the new {genre} from {director}, last weekend.",
                         f"{title} is {_a(genre)} directed by {director} and starring {actor}.",
                         (f"{director} returns with {title}, {_a(genre)} about {_a(rng.choice(JOBS))} in "
                         f"{rng.choice(CITIES)}."), f"I finally saw {title} with a group of friends."])
    plot = rng.choice(["returns home to", "falls in love in", "solves a murder in", "runs away from"])
    body = rng.sample(ASIDES, rng.randint(0, 1))
    if rng.random() < 0.6:
        body.append(f"It follows {_a(rng.choice(JOBS))} who {plot} {rng.choice(CITIES)}.")
    aspects = rng.sample(ASPECTS, rng.randint(2, 5))
    while aspects:
        if len(aspects) >= 2 and rng.random() < 0.35:  # a mixed sentence pulls both ways
            a, b = aspects.pop(), aspects.pop()
            first, second = rng.sample([rng.choice(GOOD[1]), rng.choice(BAD[1])], 2)
            body.append(f"The {a} is {first}, but the {b} is {second}.")
        else:
            body.append(_aspect(rng, aspects.pop(), (rng.random() < AGREE) == bool(label)))
    if rng.random() < 0.5:
        lead = rng.choice(["carries", "anchors", "sinks", "drags down"])
        body.append(f"{actor} plays the lead and {lead} the {genre}.")
    verdict = rng.choice(VERDICTS[label]).format(
        good=rng.choice(GOOD[0] + GOOD[1]), bad=rng.choice(BAD[0] + BAD[1]),
        good_verb=rng.choice(GOOD_VERBS), bad_verb=rng.choice(BAD_VERBS))
    sentences = [verdict, opener, *body] if rng.random() < 0.2 else [opener, *body, verdict]
    while len(" ".join(sentences).split()) > MAX_WORDS:
        sentences.pop(-2 if sentences[-1] == verdict else 2)
    return " ".join(sentences)


def generate_reviews(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` labelled movie reviews ({"id": "rev-00001", "text", "label"}: 1 positive, 0 negative), balanced.

    The label is the review's overall verdict; aspect sentences agree with it only most of the time,
    and negation and mixed sentences mean a reader has to follow the whole text.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for label in labels:
        text = _review(rng, label)
        while text in seen or len(text.split()) < MIN_WORDS:
            text = _review(rng, label)
        seen.add(text)
        rows.append({"id": f"rev-{len(rows) + 1:05d}", "text": text, "label": label})
    return rows


QUICKSTART = {  # name -> (file, count at scale 1)
    "squad_train": ("squad_train.json", 1500), "squad_dev": ("squad_dev.json", 500),
    "news_ood": ("news_ood.json", 500), "reviews_train": ("reviews_train.jsonl", 800),
    "reviews_test": ("reviews_test.jsonl", 300),
}


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_quickstart_data(folder: Path, seed: int = 0, scale: float = 1.0) -> dict[str, Path]:
    """Write the offline quickstart's data: generated SQuAD v2-style train/dev, a news-style OOD set, reviews.

    Files in `folder`: squad_train.json (~1,500 questions, a third unanswerable), squad_dev.json (~500,
    passages disjoint from train), news_ood.json (~500 news-wire questions, the out-of-distribution set),
    reviews_train.jsonl (800) and reviews_test.jsonl (300) labelled movie reviews, and manifest.json.
    Counts are multiplied by `scale`. Files already written with the same seed, scale and generator
    version are kept as they are.

    Returns:
        name (squad_train, squad_dev, news_ood, reviews_train, reviews_test) -> path.
    """
    if not scale > 0:
        raise ConfigError(f"scale must be positive, got {scale}")
    folder = Path(folder)
    paths = {name: folder / file for name, (file, _) in QUICKSTART.items()}
    manifest = {"generator_version": GENERATOR_VERSION, "seed": seed, "scale": scale,
                "files": {name: file for name, (file, _) in QUICKSTART.items()}}
    stamp = folder / "manifest.json"
    if stamp.is_file() and all(p.is_file() for p in paths.values()):
        try:
            if read_json_file(stamp) == manifest:
                return paths
        except DataError:  # an unreadable manifest only means "write again"
            pass
    stamp.unlink(missing_ok=True)  # an interrupted rewrite must not look complete
    n = {name: max(1, round(count * scale)) for name, (_, count) in QUICKSTART.items()}
    n_train, n_dev = max(1, round(n["squad_train"] / 15)), max(1, round(n["squad_dev"] / 15))
    qa = generate_qa(n_train + n_dev, seed)
    news = generate_qa(max(1, round(n["news_ood"] / 5)), seed, style="news")
    n_rev_train, n_rev_test = (max(2, 2 * round(n[k] / 2)) for k in ("reviews_train", "reviews_test"))
    reviews = generate_reviews(n_rev_train + n_rev_test, seed)
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    taken = [0, 0]  # both splits balanced; ids unique across them
    for r in reviews:
        keep = taken[r["label"]] < n_rev_train // 2
        taken[r["label"]] += keep
        (train if keep else test).append(r)
    atomic_write_json(paths["squad_train"], {"version": "v2.0", "data": qa["data"][:n_train]})
    atomic_write_json(paths["squad_dev"], {"version": "v2.0", "data": qa["data"][n_train:]})
    atomic_write_json(paths["news_ood"], news)
    atomic_write_text(paths["reviews_train"], _jsonl(train))
    atomic_write_text(paths["reviews_test"], _jsonl(test))
    atomic_write_json(stamp, manifest)  # last, so a manifest only ever describes complete files
    return paths

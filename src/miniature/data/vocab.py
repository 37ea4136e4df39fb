"""The generator's vocabulary: names, places, biography and news templates, review words."""

from __future__ import annotations

_W = str.split

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
DATELINES = ["WASHINGTON", "NEW YORK", "LONDON", "CHICAGO", "TOKYO", "BRUSSELS", "ATLANTA", "HOUSTON",
             "DENVER", "SEATTLE", "MIAMI", "BOSTON", "SAN FRANCISCO", "LOS ANGELES", "TORONTO", "FRANKFURT"]
DAYS = _W("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
US_CITIES = _W("Portland Hartford Omaha Memphis Raleigh Tulsa Boise Fresno Spokane Albany Dayton Reno")
STATES = _W("Ohio Texas Georgia Oregon Nevada Iowa Maine Utah Kansas Arizona Michigan Virginia")
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

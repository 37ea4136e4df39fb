"""Seeded offline data: SQuAD v2-style QA, news-wire OOD QA and movie reviews, built from templates."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from miniature.data.vocab import (
    ADJ,
    ASIDES,
    ASPECTS,
    BAD,
    BAD_VERBS,
    CAREER,
    CITIES,
    DATELINES,
    DAYS,
    EARLY,
    FEMALE,
    FIELDS,
    GENRES,
    GOOD,
    GOOD_VERBS,
    JOBS,
    LAST,
    LEGACY,
    MALE,
    NATIONS,
    NEWS,
    NEWS_QUESTIONS,
    NOUN,
    QUESTIONS,
    RELS,
    STATES,
    TOPICS,
    US_CITIES,
    VERDICTS,
)
from miniature.exceptions import ConfigError, DataError
from miniature.runs import atomic_write_json, atomic_write_text, check_writable_dir, file_stamp, read_json_file

GENERATOR_VERSION = "2"  # 2: reviews of at most 80 words
_W = str.split


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


_SLOT = re.compile(r"\{([A-Z])(?:([.:])(\w+))?\}")
_PRONOUN = {"he": ("she", "he"), "He": ("She", "He"), "his": ("her", "his"), "His": ("Her", "His"),
            "him": ("her", "him")}


def render(sentences: list[str], world: dict[str, dict[str, Any]]) -> tuple[str, dict[tuple[str, str], int]]:
    """Join templated sentences into a passage; return it and where each stated fact {X.rel} starts."""
    text = ""
    spans: dict[tuple[str, str], int] = {}
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


def _news_values(rng: random.Random, topic: str) -> dict[str, Any]:
    """The facts of one news story."""
    def name() -> str:
        return f"{rng.choice(FEMALE + MALE)} {rng.choice(LAST)}"

    def pct(lo: int, hi: int) -> str:
        return f"{rng.randint(lo, hi)}.{rng.randint(1, 9)} percent"

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


def generate_data(cfg: Any) -> None:
    """Write the config's generated data (its `generate:` section, the quickstart's) unless the
    files are there already with the same seed and scale."""
    if cfg.generate is not None:
        check_writable_dir(cfg.generate.folder, "generated-data folder",
                           "choose another with --set generate.folder=PATH")
        write_quickstart_data(cfg.generate.folder, cfg.generate.seed, cfg.generate.scale)


@contextmanager
def generated_data(cfg: Any) -> Iterator[None]:
    """`generate_data` for a block that checks the config against the data (the preflight): if the
    block refuses the config, the files this call wrote are removed again, and the folders it made,
    so a refused config leaves nothing behind."""
    if cfg.generate is None:
        yield
        return
    folder = Path(cfg.generate.folder).absolute()
    top = folder
    while not top.parent.exists():
        top = top.parent
    made = None if top.exists() else top  # the outermost folder this call creates, if any
    before = {p: file_stamp(p) for p in folder.glob("*")} if folder.is_dir() else {}
    generate_data(cfg)
    try:
        yield
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        else:
            for p in folder.glob("*"):
                if p.is_file() and file_stamp(p) != before.get(p):
                    p.unlink(missing_ok=True)
        raise

"""The tiny profile's assets: a CoLA-format sample and a tiny pretrained GPT-2, written by a deterministic generator.

``python -m cola_workshop.tiny_assets`` (re)writes

* ``data/cola_tiny/``: a small corpus in the layout of the CoLA v1.1 public release (``raw/in_domain_train.tsv``,
  ``raw/in_domain_dev.tsv``, ``raw/out_of_domain_dev.tsv``) plus GLUE's unlabeled ``glue_test/test.tsv``. Every
  sentence is made up here from templates (no sentence comes from CoLA): acceptable sentences, and unacceptable
  ones built from typical errors (agreement, word order, a missing argument, a wrong auxiliary form, a doubled or
  missing determiner, an object after an intransitive verb, pronoun case, reflexives...).
* ``data/tiny-gpt2/``: a byte-level BPE tokenizer (about 500 tokens) trained on the training sentences, and a
  2-layer GPT-2 (about 140k parameters) briefly pretrained as a causal language model on the acceptable training
  sentences only, so that its log-probabilities mean something. Only JSON and safetensors files.

Everything is seeded, and the model is trained in float64 on one thread with deterministic algorithms and then
stored in float32, so two runs write byte-identical files (``tests/test_tiny_assets.py`` checks it).
The real corpus and the real GPT-2 small are what the ``full`` profile uses; these assets only let CI and offline
rehearsals run the same notebooks in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
from pathlib import Path

from .settings import REPO_ROOT

SEED = 1805  # arXiv:1805.12471, the CoLA paper
DATA_DIR = REPO_ROOT / "data" / "cola_tiny"
MODEL_DIR = REPO_ROOT / "data" / "tiny-gpt2"

ENDOFTEXT = "<|endoftext|>"
VOCAB_SIZE = 512
PRETRAIN_STEPS = 200
PRETRAIN_BATCH_SIZE = 16
PRETRAIN_LEARNING_RATE = 5e-3

SOURCES_IN_DOMAIN = ("tw01", "tw02", "tw03")
SOURCES_OUT_OF_DOMAIN = ("tw11", "tw12")
SPLITS = {
    # file (relative to the data folder): (number of rows, number of acceptable rows, sources)
    "raw/in_domain_train.tsv": (960, 672, SOURCES_IN_DOMAIN),
    "raw/in_domain_dev.tsv": (96, 67, SOURCES_IN_DOMAIN),
    "raw/out_of_domain_dev.tsv": (64, 45, SOURCES_OUT_OF_DOMAIN),
}
TEST_FILE = "glue_test/test.tsv"
TEST_ROWS = 30  # GLUE's test set mixes in-domain and out-of-domain sentences; so does this one

# --------------------------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Noun:
    singular: str
    plural: str
    count: bool = True  # mass nouns ("bread") need no determiner in the singular


@dataclasses.dataclass(frozen=True)
class Verb:
    third: str  # 3rd person singular present: "writes"
    base: str  # "write"
    past: str  # "wrote"
    participle: str  # "written"
    ing: str  # "writing"
    objects: tuple[str, ...] = ()  # object classes (keys of THINGS) that make natural sentences


def _n(singular: str, plural: str | None = None, count: bool = True) -> Noun:
    return Noun(singular, plural or singular + "s", count)


PEOPLE = (
    _n("girl"), _n("boy"), _n("teacher"), _n("farmer"), _n("doctor"), _n("child", "children"), _n("student"),
    _n("baker"), _n("neighbor"), _n("pilot"), _n("woman", "women"), _n("man", "men"), _n("nurse"), _n("painter"),
    _n("cousin"), _n("driver"),
)  # fmt: skip
PERSON_ADJECTIVES = ("old", "young", "tall", "busy", "tired", "quiet", "happy")
SUBJECT_DETERMINERS_SG = ("the", "the", "my", "our", "that", "a")
SUBJECT_DETERMINERS_PL = ("the", "the", "my", "our", "those", "some")

THINGS = {
    "text": (_n("letter"), _n("book"), _n("story", "stories"), _n("poem"), _n("report"), _n("note")),
    "food": (_n("apple"), _n("sandwich", "sandwiches"), _n("cake"), _n("bread", count=False),
             _n("soup", count=False), _n("rice", count=False), _n("orange"), _n("pie")),
    "surface": (_n("fence"), _n("door"), _n("wall"), _n("table"), _n("chair"), _n("window")),
    "room": (_n("kitchen"), _n("garage"), _n("bathroom"), _n("classroom"), _n("office")),
    "portable": (_n("box", "boxes"), _n("bag"), _n("basket"), _n("key"), _n("lamp"), _n("bottle"), _n("map"),
                 _n("ball"), _n("umbrella")),
    "machine": (_n("bike"), _n("radio"), _n("clock"), _n("car"), _n("computer"), _n("printer")),
    "vehicle": (_n("bus", "buses"), _n("truck"), _n("car"), _n("tractor"), _n("van")),
    "sight": (_n("bird"), _n("rainbow"), _n("train"), _n("ship"), _n("star"), _n("fox", "foxes")),
    "openable": (_n("box", "boxes"), _n("bag"), _n("bottle"), _n("letter"), _n("door"), _n("window"), _n("gate")),
}  # fmt: skip
ADJECTIVES = {
    "text": ("long", "short", "old", "new"),
    "food": ("fresh", "big", "small", "warm"),
    "surface": ("old", "new", "red", "blue", "green"),
    "room": ("old", "small", "big"),
    "portable": ("heavy", "small", "red", "blue", "old", "new"),
    "machine": ("old", "new", "broken"),
    "vehicle": ("old", "new", "red", "big"),
    "sight": ("small", "bright", "big"),
    "openable": ("old", "small", "red"),
}
POSSESSIVES = ("my", "our", "her", "his", "your", "their")
# Nouns that sound odd after a possessive ("my man", "her rainbow"): they get "the", "a", "that"... instead.
NOT_POSSESSED = {"girl", "boy", "woman", "man", "farmer", "painter", "pilot", "baker", "driver"} | {
    noun.singular for noun in THINGS["sight"]
}

TRANSITIVE = (
    Verb("writes", "write", "wrote", "written", "writing", ("text",)),
    Verb("reads", "read", "read", "read", "reading", ("text",)),
    Verb("eats", "eat", "ate", "eaten", "eating", ("food",)),
    Verb("cooks", "cook", "cooked", "cooked", "cooking", ("food",)),
    Verb("paints", "paint", "painted", "painted", "painting", ("surface", "room")),
    Verb("cleans", "clean", "cleaned", "cleaned", "cleaning", ("surface", "room", "machine")),
    Verb("carries", "carry", "carried", "carried", "carrying", ("portable",)),
    Verb("finds", "find", "found", "found", "finding", ("portable", "text")),
    Verb("sees", "see", "saw", "seen", "seeing", ("sight",)),
    Verb("buys", "buy", "bought", "bought", "buying", ("food", "portable", "machine")),
    Verb("takes", "take", "took", "taken", "taking", ("portable",)),
    Verb("fixes", "fix", "fixed", "fixed", "fixing", ("machine", "surface")),
    Verb("drives", "drive", "drove", "driven", "driving", ("vehicle",)),
    Verb("opens", "open", "opened", "opened", "opening", ("openable",)),
    Verb("watches", "watch", "watched", "watched", "watching", ("sight",)),
    Verb("sells", "sell", "sold", "sold", "selling", ("food", "machine")),
)
# Verbs that sound fine in the progressive ("is watching the train", not "is seeing" or "is finding").
DYNAMIC = tuple(verb for verb in TRANSITIVE if verb.base not in ("see", "find"))
# Intransitive verbs, with the phrases that may follow them and nouns that must not be their direct object.
INTRANSITIVE = (
    (Verb("sleeps", "sleep", "slept", "slept", "sleeping"),
     ("in the garden", "on the sofa", "after lunch", "all afternoon", "in the car"), ("the sofa", "the bed", "the car")),
    (Verb("arrives", "arrive", "arrived", "arrived", "arriving"),
     ("at the station", "late", "after dinner", "at the airport", "on time"), ("the station", "the airport", "the city")),
    (Verb("laughs", "laugh", "laughed", "laughed", "laughing"),
     ("at the joke", "loudly", "all evening", "at the story"), ("the joke", "the story", "the film")),
    (Verb("waits", "wait", "waited", "waited", "waiting"),
     ("for the bus", "outside", "at the door", "for an hour"), ("the bus", "the doctor", "the train")),
    (Verb("smiles", "smile", "smiled", "smiled", "smiling"),
     ("at the baby", "politely", "all day"), ("the baby", "the photo")),
    (Verb("coughs", "cough", "coughed", "coughed", "coughing"),
     ("all night", "loudly", "during the film"), ("the film", "the class", "the song")),
)  # fmt: skip
# Verbs whose argument structure needs a location (put) or a recipient (hand).
PLACING = ("put", "placed")  # past tense; "She hid the key." is fine without a location, so no "hid"
LOCATIONS = ("on the shelf", "in the cupboard", "on the table", "under the bed", "in the drawer", "by the door",
             "on the desk", "in the car")  # fmt: skip
GIVING = ("gave", "handed", "sent", "showed", "brought", "lent")  # past tense, two objects or "to"
ADVERBIALS = {
    "present": ("every morning", "on Sundays", "after lunch", "at home", "carefully", "quickly", "every week"),
    "past": ("yesterday", "last week", "after lunch", "in the evening", "carefully", "quickly", "again", "on Monday"),
    "progressive": ("now", "today", "at the moment", "carefully", "again", "this morning"),
    "perfect": ("already", "twice", "again", "this week"),
}

# --------------------------------------------------------------------------------------------------------------
# Phrase helpers
# --------------------------------------------------------------------------------------------------------------


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _np(rng: random.Random, noun: Noun, plural: bool, determiners: tuple[str, ...], adjectives=(), p_adj=0.3) -> str:
    """A noun phrase such as 'the tired nurse', 'our children', 'an old radio'."""
    head = noun.plural if plural else noun.singular
    if adjectives and rng.random() < p_adj:
        head = f"{rng.choice(adjectives)} {head}"
    if noun.singular in NOT_POSSESSED:
        determiners = tuple(det for det in determiners if det not in POSSESSIVES) or ("the",)
    if plural or not noun.count:  # no "a baskets", no "a bread"
        determiners = tuple(det for det in determiners if det != "a") or ("the",)
    det = rng.choice(determiners)
    if det == "a":
        det = _article(head)
    return f"{det} {head}".strip()


def _subject(rng: random.Random, plural: bool, avoid: str = "") -> str:
    """A person noun phrase; ``avoid``: a phrase whose noun must not be repeated ("the doctor ... the doctor")."""
    dets = SUBJECT_DETERMINERS_PL if plural else SUBJECT_DETERMINERS_SG
    people = [noun for noun in PEOPLE if noun.singular not in avoid.split() and noun.plural not in avoid.split()]
    return _np(rng, rng.choice(people), plural, dets, PERSON_ADJECTIVES)


def _object_noun(rng: random.Random, verb: Verb) -> Noun:
    return rng.choice(THINGS[rng.choice(verb.objects)])


def _object_category(rng: random.Random, verb: Verb) -> tuple[str, Noun]:
    category = rng.choice(verb.objects)
    return category, rng.choice(THINGS[category])


def _object(rng: random.Random, verb: Verb) -> str:
    """A natural direct object for ``verb``: 'the letter', 'some red apples', 'bread', 'her new bike'."""
    category, noun = _object_category(rng, verb)
    if not noun.count:
        det = rng.choice(("the", "the", "some", "his", "her", ""))
        return f"{det} {noun.singular}".strip()
    plural = rng.random() < 0.3
    determiners = ("the", "the", "some", "my", "") if plural else ("the", "the", "a", "my", "her", "his")
    return _np(rng, noun, plural, determiners, ADJECTIVES[category], p_adj=0.25)


def _sentence(*parts: str) -> str:
    text = " ".join(part for part in parts if part)
    return text[0].upper() + text[1:] + "."


def _maybe(rng: random.Random, options: tuple[str, ...], p: float = 0.5) -> str:
    return rng.choice(options) if rng.random() < p else ""


# --------------------------------------------------------------------------------------------------------------
# Sentence sources. Each takes an RNG and whether the sentence must be acceptable, and returns one sentence.
# --------------------------------------------------------------------------------------------------------------


def _tw01_simple_clauses(rng: random.Random, acceptable: bool) -> str:
    """Simple transitive and intransitive clauses in present and past; errors: agreement, verb forms, objects."""
    plural = rng.random() < 0.45
    subj = _subject(rng, plural)
    if rng.random() < 0.25:  # intransitive
        verb, phrases, bad_objects = rng.choice(INTRANSITIVE)
        tense = rng.choice(("present", "past"))
        form = verb.past if tense == "past" else (verb.base if plural else verb.third)
        if acceptable:
            return _sentence(subj, form, rng.choice(phrases))
        error = rng.choice(("object", "agreement"))
        if error == "object":  # an intransitive verb with a direct object: "The farmer slept the sofa."
            return _sentence(subj, form, rng.choice(bad_objects), _maybe(rng, ADVERBIALS[tense], 0.3))
        return _sentence(subj, verb.third if plural else verb.base, rng.choice(phrases))
    verb = rng.choice(TRANSITIVE)
    tense = rng.choice(("present", "present", "past"))
    obj = _object(rng, verb)
    adverbial = _maybe(rng, ADVERBIALS[tense], 0.5)
    if acceptable:
        form = verb.past if tense == "past" else (verb.base if plural else verb.third)
        return _sentence(subj, form, obj, adverbial)
    # No agreement error when the bare form is also the past: "The girl read the book." is fine.
    errors = ["participle", "ing"] if verb.base == verb.past else ["agreement", "agreement", "participle", "ing"]
    if verb.past != verb.participle:
        errors.append("participle")
    error = rng.choice(errors)
    if error == "agreement":  # "The girls paints the fence.", "That girl clean the tables."
        return _sentence(subj, verb.third if plural else verb.base, obj, adverbial)
    if error == "participle" and verb.past != verb.participle:  # "The boy eaten an apple." (not "cleaned")
        return _sentence(subj, verb.participle, obj, _maybe(rng, ADVERBIALS["past"], 0.5))
    return _sentence(subj, verb.ing, obj, _maybe(rng, ADVERBIALS["progressive"], 0.5))  # "The girl painting the door."


def _tw02_argument_structure(rng: random.Random, acceptable: bool) -> str:
    """Verbs that need a location (put) or a recipient (hand); errors: missing or misplaced arguments."""
    subj = _subject(rng, rng.random() < 0.4)
    kind = rng.choice(("place", "place", "give", "give", "transitive"))
    if kind == "place":
        verb = rng.choice(PLACING)
        thing = _np(rng, rng.choice(THINGS["portable"]), rng.random() < 0.3, ("the", "the", "her", "his", "a"),
                    ADJECTIVES["portable"], 0.2)  # fmt: skip
        location = rng.choice(LOCATIONS)
        if acceptable:
            return _sentence(subj, verb, thing, location, _maybe(rng, ("yesterday", "again", "carefully"), 0.2))
        if rng.random() < 0.6:  # a missing location: "The girl put the book."
            return _sentence(subj, verb, thing, _maybe(rng, ("yesterday", "again", "carefully"), 0.3))
        return _sentence(subj, verb, location, thing)  # a light object after the location: "... put on the shelf the map."
    if kind == "give":
        verb = rng.choice(GIVING)
        category = rng.choice(("text", "portable"))
        thing = _np(rng, rng.choice(THINGS[category]), False, ("the", "a", "her", "his"), ADJECTIVES[category], 0.2)
        recipient = _subject(rng, rng.random() < 0.3, avoid=subj)
        if acceptable:
            if rng.random() < 0.5:
                return _sentence(subj, verb, recipient, thing)  # "She gave the nurse a letter."
            return _sentence(subj, verb, thing, "to", recipient)  # "She gave a letter to the nurse."
        error = rng.choice(("to_first", "theme_first", "no_theme"))
        if error == "to_first":  # "She gave to the nurse a letter."
            return _sentence(subj, verb, "to", recipient, thing)
        if error == "theme_first":  # two objects in the wrong order: "She gave a letter the nurse."
            return _sentence(subj, verb, thing, recipient)
        return _sentence(subj, "handed", recipient, _maybe(rng, ("yesterday", "again"), 0.4))  # "She handed the nurse."
    # verbs that need their object: "The boy fixed the radio." / "*The boy fixed."
    verb = rng.choice([v for v in TRANSITIVE if v.base in ("fix", "carry", "find", "take", "buy")])
    if acceptable:
        return _sentence(subj, verb.past, _object(rng, verb), _maybe(rng, ADVERBIALS["past"], 0.5))
    return _sentence(subj, verb.past, _maybe(rng, ("yesterday", "last week", "on Monday"), 0.4))


def _tw03_auxiliaries_and_order(rng: random.Random, acceptable: bool) -> str:
    """Perfect, progressive and negated clauses; errors: wrong auxiliary forms, word order, determiners."""
    plural = rng.random() < 0.45
    subj = _subject(rng, plural)
    verb = rng.choice(DYNAMIC)
    obj = _object(rng, verb)
    construction = rng.choice(("perfect", "progressive", "negated", "negated_past", "simple"))
    if construction == "perfect":
        aux = "have" if plural else "has"
        adverb = _maybe(rng, ADVERBIALS["perfect"], 0.4)
        if adverb == "already":
            parts = [subj, aux, adverb, verb.participle, obj]
        else:
            parts = [subj, aux, verb.participle, obj, adverb]
    elif construction == "progressive":
        aux = "are" if plural else "is"
        parts = [subj, aux, verb.ing, obj, _maybe(rng, ADVERBIALS["progressive"], 0.4)]
    elif construction == "negated":
        aux = "do not" if plural else "does not"
        parts = [subj, aux, verb.base, obj, _maybe(rng, ADVERBIALS["present"], 0.4)]
    elif construction == "negated_past":
        parts = [subj, "did not", verb.base, obj, _maybe(rng, ADVERBIALS["past"], 0.4)]
    else:
        parts = [subj, verb.past, obj, _maybe(rng, ADVERBIALS["past"], 0.4)]
    if acceptable:
        return _sentence(*parts)

    error = rng.choice(("aux_form", "aux_form", "order", "order", "determiner", "determiner"))
    if error == "aux_form":
        if construction == "perfect":  # "has wrote", "have eat", "has reads"
            i = parts.index(verb.participle)
            parts[i] = rng.choice([f for f in (verb.past, verb.base, verb.third) if f != verb.participle])
        elif construction == "progressive":  # "is paint", "are paints"
            parts[2] = rng.choice((verb.base, verb.third))
        elif construction == "negated":  # "does not eats", "do not ate"
            parts[2] = rng.choice((verb.third, verb.past)) if verb.past != verb.base else verb.third
        elif construction == "negated_past":  # "did not ate"
            parts[2] = verb.past if verb.past != verb.base else verb.ing
        else:  # a perfect auxiliary with the bare verb: "The boy has eat the soup."
            parts[1] = ("have " if plural else "has ") + (verb.base if verb.base != verb.participle else verb.ing)
        return _sentence(*parts)
    if error == "order":
        choice = rng.choice(("ov", "adverb", "aux_after", "not"))
        if choice == "not" and construction in ("negated", "negated_past"):  # "The girl does eat not the soup."
            return _sentence(subj, parts[1].replace(" not", ""), verb.base, "not", obj)
        if choice == "aux_after" and construction in ("perfect", "progressive"):  # "The girl painting is the door."
            return _sentence(subj, verb.ing if construction == "progressive" else verb.participle, parts[1], obj)
        if choice == "adverb":  # an adverbial between verb and object: "The girl wrote quickly the letter."
            return _sentence(subj, verb.past, rng.choice(("quickly", "carefully", "yesterday", "again")), obj)
        return _sentence(subj, obj, verb.past, _maybe(rng, ADVERBIALS["past"], 0.3))  # "The girl the letter wrote."
    # determiner errors: doubled, "a" with a plural, or a bare singular count noun
    noun = _object_noun(rng, verb)
    kind = rng.choice(("double_subject", "double_object", "a_plural", "bare") if noun.count else ("double_subject",))
    if kind == "double_subject":  # "The the girl ...", "My the children ..."
        person = rng.choice(PEOPLE)
        if plural:
            parts[0] = f"{rng.choice(('the the', 'the my', 'my the', 'the our', 'the those'))} {person.plural}"
        else:
            first, second = rng.choice((("the", "the"), ("the", "my"), ("my", "the"), ("the", "a"), ("a", "the")))
            parts[0] = f"{_article(second) if first == 'a' else first} {_article(person.singular) if second == 'a' else second} {person.singular}"
    else:
        if kind == "double_object":  # "... wrote the a letter.", "... ate the the apples."
            plural_obj = rng.random() < 0.3
            head = noun.plural if plural_obj else noun.singular
            pairs = (("the", "the"), ("the", "my"), ("my", "the")) + (() if plural_obj else (("the", "a"), ("a", "the")))
            first, second = rng.choice(pairs)
            bad_obj = f"{_article(second) if first == 'a' else first} {_article(head) if second == 'a' else second} {head}"
        elif kind == "a_plural":  # "... wrote a letters."
            bad_obj = f"{_article(noun.plural)} {noun.plural}"
        else:  # a bare singular count noun: "... wrote letter."
            bad_obj = noun.singular
        parts[parts.index(obj)] = bad_obj
    return _sentence(*parts)


# Out of domain: other constructions, other errors.
RELATIVE_CLAUSES_SG = ("who lives next door", "who works at the bakery", "who visited us", "who sings in the choir",
                       "who owns the farm", "who helped my sister")  # fmt: skip
RELATIVE_CLAUSES_PL = ("who live next door", "who work at the bakery", "who visited us", "who sing in the choir",
                       "who own the farm", "who helped my sister")  # fmt: skip
RELATIVE_CLAUSE_OTHER_NUMBER = {
    **{sg: pl for sg, pl in zip(RELATIVE_CLAUSES_SG, RELATIVE_CLAUSES_PL) if sg != pl},
    **{pl: sg for sg, pl in zip(RELATIVE_CLAUSES_SG, RELATIVE_CLAUSES_PL) if sg != pl},
}
PREDICATES = {
    # adjectives that describe things of each category ("The letter that ... was long.")
    "text": ("long", "funny", "boring", "short", "sad"),
    "food": ("delicious", "cold", "sweet", "fresh"),
    "portable": ("heavy", "empty", "broken", "light"),
    "machine": ("broken", "noisy", "new", "expensive"),
}


def _tw11_complex_subjects(rng: random.Random, acceptable: bool) -> str:
    """Subjects with relative clauses and prepositional phrases; errors: attraction, resumptive pronouns."""
    kind = rng.choice(("who", "object_relative", "of_phrase"))
    if kind == "who":  # "The nurse who lives next door fixed the radio."
        plural = rng.random() < 0.4
        subj = _np(rng, rng.choice(PEOPLE), plural, ("the", "the", "my"), PERSON_ADJECTIVES, 0.2)
        rel = rng.choice(RELATIVE_CLAUSES_PL if plural else RELATIVE_CLAUSES_SG)
        verb = rng.choice(TRANSITIVE)
        obj = _object(rng, verb)
        if acceptable:
            return _sentence(subj, rel, verb.past, obj)
        if rng.random() < 0.5 and rel in RELATIVE_CLAUSE_OTHER_NUMBER:  # "The nurse who live next door ..."
            return _sentence(subj, RELATIVE_CLAUSE_OTHER_NUMBER[rel], verb.past, obj)
        return _sentence(subj, rel, obj, verb.past)  # "The nurse who lives next door the radio fixed."
    if kind == "object_relative":  # "The letter that the teacher wrote was long."
        category = rng.choice(tuple(PREDICATES))
        noun = rng.choice(THINGS[category])
        plural = noun.count and rng.random() < 0.35
        verb = rng.choice([v for v in TRANSITIVE if category in v.objects])
        thing = f"the {noun.plural if plural else noun.singular}"
        maker = _subject(rng, rng.random() < 0.3)
        copula = "were" if plural else "was"
        adjective = rng.choice(PREDICATES[category])
        if acceptable:
            return _sentence(thing, "that", maker, verb.past, copula, adjective)
        if rng.random() < 0.6:  # a resumptive pronoun in the gap: "The letter that the teacher wrote it was long."
            return _sentence(thing, "that", maker, verb.past, "them" if plural else "it", copula, adjective)
        return _sentence(thing, "that", maker, verb.past, "was" if plural else "were", adjective)
    # "The friends of my neighbor are painting the fence." / attraction: "The friend of my neighbors are ..."
    plural = rng.random() < 0.5
    head = rng.choice(("friend", "sister", "brother", "son", "daughter", "uncle", "aunt"))
    head = head + "s" if plural else head
    owner = _np(rng, rng.choice(PEOPLE), not plural, ("the", "my", "our"))
    verb = rng.choice(DYNAMIC)
    obj = _object(rng, verb)
    aux = "are" if plural else "is"
    if acceptable:
        return _sentence("the", head, "of", owner, aux, verb.ing, obj)
    return _sentence("the", head, "of", owner, "is" if plural else "are", verb.ing, obj)


REFLEXIVE_VERBS = (
    ("washed", ("after dinner", "quickly", "")),
    ("hurt", ("on the ice", "again", "")),
    ("dried", ("with a towel", "quickly", "")),
    ("blamed", ("for the mistake", "again", "")),
    ("introduced", ("to the class", "to the new neighbors")),
    ("saw", ("in the mirror", "in the window")),
)
PRONOUNS = (("she", "her", "herself"), ("he", "him", "himself"), ("they", "them", "themselves"))
COUNTS = ("two", "three", "four", "five", "several", "many")
COMPARATIVES = (("tall", "taller"), ("old", "older"), ("fast", "faster"), ("strong", "stronger"),
                ("young", "younger"), ("quiet", "quieter"), ("busy", "busier"))  # fmt: skip


def _tw12_pronouns_and_existentials(rng: random.Random, acceptable: bool) -> str:
    """Pronoun case, reflexives, there-sentences and comparatives; errors in each."""
    kind = rng.choice(("case", "reflexive", "there", "comparative"))
    if kind == "case":  # "She gave him the keys."
        (subj, _, _), (_, obj, _) = rng.sample(PRONOUNS, 2)
        past = rng.choice(GIVING)
        thing = _np(rng, rng.choice(THINGS[rng.choice(("text", "portable"))]), rng.random() < 0.3, ("the", "my", "a"))
        if acceptable:
            return _sentence(subj, past, obj, thing)
        nominative = {p[1]: p[0] for p in PRONOUNS}
        accusative = {p[0]: p[1] for p in PRONOUNS}
        if rng.random() < 0.5:
            return _sentence(accusative[subj], past, obj, thing)  # "Her gave him the keys."
        return _sentence(subj, past, nominative[obj], thing)  # "She gave he the keys."
    if kind == "reflexive":  # "The boy washed himself after dinner."
        noun = rng.choice(("girl", "woman", "boy", "man"))
        index = 0 if noun in ("girl", "woman") else 1  # PRONOUNS[0] is "she", PRONOUNS[1] is "he"
        reflexive = PRONOUNS[index][2]
        verb, tails = rng.choice(REFLEXIVE_VERBS)
        tail = rng.choice(tails)
        if acceptable:
            return _sentence("the", noun, verb, reflexive, tail)
        if rng.random() < 0.6:  # wrong gender: "The boy washed herself."
            return _sentence("the", noun, verb, PRONOUNS[1 - index][2], tail)
        return _sentence(reflexive, verb, "the", noun, tail)  # "Himself washed the boy."
    if kind == "there":  # "There are three apples on the table."
        category = rng.choice(("food", "portable", "text"))
        noun = rng.choice([n for n in THINGS[category] if n.count])
        plural = rng.random() < 0.55
        place = rng.choice(LOCATIONS)
        phrase = f"{rng.choice(COUNTS)} {noun.plural}" if plural else f"{_article(noun.singular)} {noun.singular}"
        past = rng.random() < 0.4
        be = ("were" if plural else "was") if past else ("are" if plural else "is")
        wrong = ("was" if plural else "were") if past else ("is" if plural else "are")
        if acceptable:
            return _sentence("there", be, phrase, place)
        if plural and rng.random() < 0.4:  # "There are three apple on the table."
            return _sentence("there", be, phrase.rsplit(" ", 1)[0], noun.singular, place)
        return _sentence("there", wrong, phrase, place)
    positive, comparative = rng.choice(COMPARATIVES)
    first, second = rng.sample(PEOPLE, 2)
    subj = _np(rng, first, False, ("my", "the", "our"))
    other = _np(rng, second, False, ("her", "his", "the", "my"))
    if acceptable:
        return _sentence(subj, "is", comparative, "than", other)
    error = rng.choice(("more", "positive", "as"))
    if error == "more":  # "My cousin is more taller than the pilot."
        return _sentence(subj, "is", "more", comparative, "than", other)
    if error == "positive":  # "My cousin is tall than the pilot."
        return _sentence(subj, "is", positive, "than", other)
    return _sentence(subj, "is", comparative, "as", other)  # "My cousin is taller as the pilot."


SOURCES = {
    "tw01": _tw01_simple_clauses,
    "tw02": _tw02_argument_structure,
    "tw03": _tw03_auxiliaries_and_order,
    "tw11": _tw11_complex_subjects,
    "tw12": _tw12_pronouns_and_existentials,
}

# --------------------------------------------------------------------------------------------------------------
# The CoLA-format sample
# --------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    source: str
    label: int
    sentence: str

    def to_tsv(self) -> str:
        mark = "" if self.label == 1 else "*"
        return f"{self.source}\t{self.label}\t{mark}\t{self.sentence}"


def make_rows(rng: random.Random, n_rows: int, n_acceptable: int, sources, seen: set[str]) -> list[Row]:
    """``n_rows`` new sentences, ``n_acceptable`` of them acceptable, grouped by source as CoLA's files are."""
    labels = [1] * n_acceptable + [0] * (n_rows - n_acceptable)
    rng.shuffle(labels)
    rows = []
    for label in labels:
        source = rng.choice(sources)
        for _attempt in range(1000):
            sentence = SOURCES[source](rng, bool(label))
            if sentence not in seen:
                break
        else:  # pragma: no cover - the templates make far more sentences than needed
            raise RuntimeError(f"source {source} ran out of new sentences")
        seen.add(sentence)
        rows.append(Row(source, label, sentence))
    rows.sort(key=lambda row: row.source)  # stable: random order within a source
    return rows


def generate_sample(seed: int = SEED) -> dict[str, list[Row]]:
    """All splits, keyed by file name relative to the data folder. No sentence appears twice anywhere."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits = {name: make_rows(rng, n, n_ok, sources, seen) for name, (n, n_ok, sources) in SPLITS.items()}
    n_test_ok = round(TEST_ROWS * 0.7)
    test = make_rows(rng, TEST_ROWS, n_test_ok, SOURCES_IN_DOMAIN + SOURCES_OUT_OF_DOMAIN, seen)
    rng.shuffle(test)  # GLUE's test file hides the sources and labels
    splits[TEST_FILE] = test
    return splits


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_sample(folder: Path = DATA_DIR, seed: int = SEED) -> dict[str, list[Row]]:
    """Write the CoLA-format sample (raw TSVs, GLUE-style test file, README) into ``folder``; return its rows."""
    folder = Path(folder)
    splits = generate_sample(seed)
    for name, rows in splits.items():
        if name == TEST_FILE:
            lines = ["index\tsentence"] + [f"{i}\t{row.sentence}" for i, row in enumerate(rows)]
        else:
            lines = [row.to_tsv() for row in rows]
        _write_text(folder / name, "\n".join(lines) + "\n")
    _write_text(folder / "README.md", _sample_readme(splits))
    return splits


def _sample_readme(splits: dict[str, list[Row]]) -> str:
    table = []
    for name, rows in splits.items():
        if name == TEST_FILE:
            table.append(f"| `{name}` | {len(rows)} | unlabeled (header `index<TAB>sentence`, GLUE's test format) |")
            continue
        ok = sum(row.label for row in rows)
        sources = ", ".join(sorted({row.source for row in rows}))
        table.append(f"| `{name}` | {len(rows)} | {ok} acceptable ({100 * ok / len(rows):.0f}%), sources {sources} |")
    return "\n".join(
        [
            "# cola_tiny: a CoLA-format sample written by the workshop",
            "",
            "A tiny stand-in for the Corpus of Linguistic Acceptability, used by the `tiny` profile (CI, offline",
            "rehearsals). **Every sentence was made up by the workshop's generator** (`cola_workshop/tiny_assets.py`)",
            "from its own templates and word lists; none comes from CoLA. Unacceptable sentences are built from",
            "typical errors: subject-verb agreement, word order, a missing or extra argument, a wrong auxiliary or",
            "participle, doubled or missing determiners, pronoun case, reflexives, comparatives.",
            "",
            "The files have exactly the layout of the CoLA v1.1 public release (Warstadt, Singh & Bowman, *Neural",
            "Network Acceptability Judgments*, TACL 2019, arXiv:1805.12471): tab-separated, no header, four columns:",
            "source code, label (1 acceptable, 0 unacceptable), the original mark (`*` for unacceptable, else empty)",
            "and the sentence. `glue_test/test.tsv` follows GLUE's unlabeled CoLA test file.",
            "",
            "| file | rows | content |",
            "|---|---|---|",
            *table,
            "",
            "Source codes: `tw01` simple clauses, `tw02` argument structure, `tw03` auxiliaries, word order and",
            "determiners (in domain); `tw11` relative clauses and complex subjects, `tw12` pronouns, reflexives,",
            "there-sentences and comparatives (out of domain). No sentence appears twice in or across the files.",
            "",
            "Regenerate (deterministic, byte-identical) together with `data/tiny-gpt2/`:",
            "",
            "```bash",
            "python -m cola_workshop.tiny_assets",
            "```",
            "",
        ]
    )


# --------------------------------------------------------------------------------------------------------------
# Tokenizer and model
# --------------------------------------------------------------------------------------------------------------


def train_tokenizer(folder: Path, sentences: list[str], vocab_size: int = VOCAB_SIZE):
    """Train a byte-level BPE like GPT-2's on ``sentences`` and save it in ``folder`` as a GPT-2 tokenizer.

    Like GPT-2, ``<|endoftext|>`` is the bos, eos and unk token and there is no pad token. Returns the tokenizer
    as ``AutoTokenizer.from_pretrained(folder)`` loads it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, GPT2TokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[ENDOFTEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(sentences, trainer=trainer)
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=backend, bos_token=ENDOFTEXT, eos_token=ENDOFTEXT, unk_token=ENDOFTEXT, model_max_length=512
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    loaded = AutoTokenizer.from_pretrained(folder)
    # transformers 5 can silently build an empty tokenizer from files: check what a notebook would get.
    if len(loaded) != backend.get_vocab_size() or loaded.pad_token is not None:
        raise RuntimeError(f"tokenizer in {folder} did not load back: {len(loaded)} tokens, pad {loaded.pad_token!r}")
    for sentence in sentences[:20]:
        if loaded.decode(loaded(sentence)["input_ids"]) != sentence:
            raise RuntimeError(f"tokenizer in {folder} does not round-trip {sentence!r}")
    return loaded


@contextlib.contextmanager
def _deterministic_torch(seed: int):
    """Seeded, one-thread, deterministic torch; the caller's RNG state and settings are restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic)


def _encode(tokenizer, sentences: list[str]) -> list[list[int]]:
    """Each sentence as ``<|endoftext|> sentence <|endoftext|>`` token ids."""
    eos = tokenizer.eos_token_id
    return [[eos] + ids + [eos] for ids in tokenizer(sentences)["input_ids"]]


def _lm_batch(rows: list[list[int]], eos: int):
    """Token id rows padded with eos, with the attention mask and labels (-100 on the padding)."""
    import torch

    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), eos, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention_mask[i, : len(row)] = 1
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    return input_ids, attention_mask, labels


def _lm_loss(model, input_ids, attention_mask, labels):
    """Mean next-token cross-entropy over the non-padding tokens."""
    import torch

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def build_model(folder: Path, tokenizer, sentences: list[str], seed: int = SEED, steps: int = PRETRAIN_STEPS):
    """Create the tiny GPT-2, pretrain it as a causal LM on ``sentences`` and save it (safetensors) in ``folder``.

    Training runs in float64 so that the float32 weights it saves do not depend on the CPU's rounding details.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=512,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    order = random.Random(seed)
    with _deterministic_torch(seed):
        model = GPT2LMHeadModel(config).to(torch.float64)
        optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LEARNING_RATE, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / 30) * max(0.0, 1 - step / steps)
        )
        model.train()
        encoded = _encode(tokenizer, sentences)
        pool: list[list[int]] = []
        for _step in range(steps):
            if len(pool) < PRETRAIN_BATCH_SIZE:
                pool += order.sample(encoded, len(encoded))
            batch, pool = pool[:PRETRAIN_BATCH_SIZE], pool[PRETRAIN_BATCH_SIZE:]
            loss = _lm_loss(model, *_lm_batch(batch, eos))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        model = model.to(torch.float32).eval()
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    (Path(folder) / "model.safetensors").chmod(0o644)  # written through a private temporary file (mode 600)
    _write_text(Path(folder) / "README.md", _model_readme(model, tokenizer, len(sentences), steps))
    return model


def mean_logprob_per_token(model, tokenizer, sentences: list[str]) -> list[float]:
    """For each sentence, the mean log-probability the LM gives its tokens (and the final eos), after eos."""
    import torch

    scores = []
    with torch.no_grad():
        for row in _encode(tokenizer, sentences):
            input_ids, attention_mask, _labels = _lm_batch([row], tokenizer.eos_token_id)
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[0, :-1]
            logprobs = torch.log_softmax(logits.double(), dim=-1)
            targets = input_ids[0, 1:]
            scores.append(logprobs[torch.arange(len(targets)), targets].mean().item())
    return scores


def acceptability_gap(model, tokenizer, rows) -> tuple[float, float]:
    """Average mean log-prob per token of the acceptable and of the unacceptable ``rows`` (label, sentence)."""
    good = [sentence for label, sentence in rows if label == 1]
    bad = [sentence for label, sentence in rows if label == 0]
    good_scores, bad_scores = mean_logprob_per_token(model, tokenizer, good), mean_logprob_per_token(model, tokenizer, bad)
    return sum(good_scores) / len(good_scores), sum(bad_scores) / len(bad_scores)


def _model_readme(model, tokenizer, n_sentences: int, steps: int) -> str:
    n_params = sum(p.numel() for p in model.parameters())
    return "\n".join(
        [
            "# tiny-gpt2: a tiny GPT-2 for the workshop's `tiny` profile",
            "",
            "Not a real language model: a stand-in for `openai-community/gpt2` so that CI and offline rehearsals can",
            "run every notebook in seconds. Written by `python -m cola_workshop.tiny_assets` (deterministic).",
            "",
            f"- Architecture: `GPT2LMHeadModel`, 2 layers, 2 heads, width 64, {model.config.n_positions} positions, {n_params:,} parameters",
            "  (float32, `model.safetensors`; no pickle files).",
            f"- Tokenizer: byte-level BPE like GPT-2's, {len(tokenizer)} tokens, trained with `tokenizers` on the",
            "  training sentences of `data/cola_tiny`. As in GPT-2, `<|endoftext|>` is the bos, eos and unk token",
            "  and **there is no pad token**: set one (e.g. the eos token) before padding batches, as with GPT-2.",
            f"- Pretraining: {steps} steps of causal language modelling (AdamW, batch {PRETRAIN_BATCH_SIZE}) on the",
            f"  {n_sentences} *acceptable* training sentences of `data/cola_tiny` only, each as",
            "  `<|endoftext|> sentence <|endoftext|>`. Its log-probabilities therefore prefer acceptable sentences a",
            "  little, like a real pretrained model does (a lot) on real English.",
            "",
            "Loads offline with `AutoTokenizer`, `AutoModelForCausalLM`, `AutoModelForSequenceClassification`",
            "(a new 2-label head) and `AutoModelForQuestionAnswering`.",
            "",
        ]
    )


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------


def write_all(data_dir: Path = DATA_DIR, model_dir: Path = MODEL_DIR, seed: int = SEED, steps: int = PRETRAIN_STEPS):
    """Write the sample, the tokenizer and the model; return (splits, tokenizer, model)."""
    splits = write_sample(data_dir, seed)
    train = splits["raw/in_domain_train.tsv"]
    tokenizer = train_tokenizer(model_dir, [row.sentence for row in train])
    model = build_model(model_dir, tokenizer, [row.sentence for row in train if row.label == 1], seed, steps)
    return splits, tokenizer, model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cola_workshop.tiny_assets", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the CoLA-format sample goes")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where the tiny GPT-2 goes")
    args = parser.parse_args(argv)
    splits, tokenizer, model = write_all(args.data_dir, args.model_dir)
    for name, rows in splits.items():
        ok = sum(row.label for row in rows)
        label_info = "" if name == TEST_FILE else f", {ok} acceptable ({100 * ok / len(rows):.1f}%)"
        print(f"{args.data_dir / name}: {len(rows)} rows{label_info}")
    size = sum(path.stat().st_size for path in args.model_dir.iterdir() if path.is_file())
    print(f"{args.model_dir}: tokenizer {len(tokenizer)} tokens, folder {size:,} bytes")
    for name in ("raw/in_domain_dev.tsv", "raw/out_of_domain_dev.tsv"):
        good, bad = acceptability_gap(model, tokenizer, [(row.label, row.sentence) for row in splits[name]])
        print(f"mean log-prob per token on {name}: acceptable {good:.3f}, unacceptable {bad:.3f}, gap {good - bad:+.3f}")


if __name__ == "__main__":
    main()
